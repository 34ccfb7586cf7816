"""The ``cni-geo`` command: a thin layer over the library.

Exit codes: 0 success; 1 other cni-geo error; 2 usage error (bad option); 3 recipe error;
4 input data error (file, CRS, column, geometry, values); 5 output error (exists without
--overwrite, folder not writable, disk full); 70 unexpected internal error (a bug: please report
it with the output of -v).
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
import warnings
from pathlib import Path

import click

from . import __version__
from .errors import CniGeoError

log = logging.getLogger("cni_geo")
INTERNAL_ERROR = 70


class _Formatter(logging.Formatter):
    def format(self, record):
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"cni-geo: {level}{record.getMessage()}"


def _setup_logging(verbosity: int) -> None:
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    root = logging.getLogger("cni_geo")
    for h in list(root.handlers):
        if getattr(h, "_cni_cli", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._cni_cli = True
    handler.setFormatter(_Formatter())
    root.addHandler(handler)
    root.setLevel(level)

    def show(message, category, filename, lineno, file=None, line=None):
        if verbosity >= 0:
            click.echo(f"cni-geo: warning: {message}", err=True)

    warnings.showwarning = show


def _handle_errors(func):
    """Print cni-geo errors in one line (a traceback only with -v) and exit non-zero."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        verbose = ctx.find_root().obj.get("verbosity", 0) if ctx.find_root().obj else 0
        try:
            return func(*args, **kwargs)
        except CniGeoError as exc:
            if verbose > 0:
                traceback.print_exc()
            click.echo(f"cni-geo: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("cni-geo: interrupted; no output was left half-written.", err=True)
            ctx.exit(130)
        except click.exceptions.Exit:
            raise
        except Exception as exc:  # noqa: BLE001 - the last resort of a CLI
            if verbose > 0:
                traceback.print_exc()
            click.echo(
                f"cni-geo: internal error: {type(exc).__name__}: {exc}. This is a bug in cni-geo; "
                "rerun with -v and report the traceback.",
                err=True,
            )
            ctx.exit(INTERNAL_ERROR)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="cni-geo")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.pass_context
def cli(ctx, verbose: int, quiet: bool):
    """Build a Community Needs Index from open geospatial data."""
    verbosity = -1 if quiet else verbose
    ctx.obj = {"verbosity": verbosity}
    _setup_logging(verbosity)


def _show_progress(ctx) -> bool:
    return ctx.find_root().obj.get("verbosity", 0) >= 0 and sys.stderr.isatty()


@cli.command()
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out/demo"),
    show_default=True,
    help="Output folder.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option(
    "--regenerate",
    is_flag=True,
    help="Regenerate the demo region instead of reading the repository's files.",
)
@click.pass_context
@_handle_errors
def demo(ctx, out: Path, overwrite: bool, regenerate: bool):
    """Build the whole index for the embedded demo region (no arguments, no network)."""
    from ._demo_build import run_demo
    from .pipeline import describe_build

    result = run_demo(
        out, overwrite=overwrite, progress=_show_progress(ctx), regenerate=regenerate or None
    )
    if ctx.find_root().obj["verbosity"] >= 0:
        click.echo(describe_build(result))


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (overrides the recipe's outputs.folder).",
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default=None,
    help="Execution engine (default: the recipe's, else local).",
)
@click.option(
    "--scheduler",
    default=None,
    help="Dask scheduler address (with --engine dask); a local cluster when absent.",
)
@click.pass_context
@_handle_errors
def build(ctx, recipe: Path, out: Path | None, overwrite: bool, engine, scheduler):
    """Run RECIPE end to end: GeoPackage, web map and table."""
    from .pipeline import build as run_build
    from .pipeline import describe_build

    result = run_build(
        recipe,
        out=out,
        overwrite=overwrite,
        progress=_show_progress(ctx),
        engine=engine,
        scheduler=scheduler,
    )
    if ctx.find_root().obj["verbosity"] >= 0:
        click.echo(describe_build(result))


@cli.command()
@click.argument("table", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--recipe",
    "recipe",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Recipe with an index section.",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output CSV (a .json sidecar holds provenance).",
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option(
    "--deprivation",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Deprivation table for Left Behind flags.",
)
@click.option("--deprivation-id", default=None, help="Id column of the deprivation table.")
@click.option("--deprivation-score", default=None, help="Score column (higher = more deprived).")
@click.option("--deprivation-rank", default=None, help="Rank column (1 = most deprived).")
@click.option(
    "--uncertainty",
    type=click.IntRange(min=0),
    default=0,
    help="Monte Carlo runs for rank uncertainty (0 = none).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --uncertainty.")
@click.pass_context
@_handle_errors
def index(
    ctx,
    table,
    recipe,
    out,
    overwrite,
    deprivation,
    deprivation_id,
    deprivation_score,
    deprivation_rank,
    uncertainty,
    seed,
):
    """Build only the composite index from TABLE (indicator values keyed by area code)."""
    from .errors import RecipeError
    from .index import run_index_table
    from .recipe import load_recipe

    if deprivation is not None:
        if not deprivation_id or (deprivation_score is None) == (deprivation_rank is None):
            msg = "--deprivation needs --deprivation-id and exactly one of --deprivation-score or --deprivation-rank."
            raise RecipeError(msg)
    spec = load_recipe(recipe, require_build=False)
    path = run_index_table(
        table,
        spec.index,
        out,
        deprivation_path=deprivation,
        deprivation_id=deprivation_id,
        deprivation_score=deprivation_score,
        deprivation_rank=deprivation_rank,
        uncertainty=uncertainty,
        seed=seed,
        overwrite=overwrite,
        recipe_path=recipe,
    )
    if ctx.find_root().obj["verbosity"] >= 0:
        click.echo(f"wrote {path}")


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
@_handle_errors
def validate(ctx, recipe: Path):
    """Check RECIPE (keys, values, source names, files) without reading any data."""
    from .recipe import load_recipe

    spec = load_recipe(recipe, require_build=False)
    if ctx.find_root().obj["verbosity"] >= 0:
        kind = "build" if spec.units is not None else "index-only"
        click.echo(
            f"{recipe}: valid {kind} recipe {spec.name!r} (schema 1): {len(spec.sources)} sources, "
            f"{len(spec.indicators)} indicators."
        )


def main(argv=None):
    """Entry point of the ``cni-geo`` console script."""
    return cli.main(args=argv, prog_name="cni-geo")


if __name__ == "__main__":  # pragma: no cover
    main()
