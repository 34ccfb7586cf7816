"""Open a cni-geo GeoPackage with real QGIS and print what QGIS sees as JSON.

Run with the system Python that has PyQGIS (Debian python3-qgis), not the project's virtualenv:

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_check.py REQUEST.json

REQUEST.json holds ``{"gpkg": path, "layers": [names], "png": path, "size": [w, h],
"points": [[x, y], ...], "project": name or null}``. The script reports, for each layer, validity,
feature count, renderer and classes, aliases, field domains/widgets and layer metadata; renders
the ``areas`` layer to ``png`` over the layer's extent and reports the pixel colour at each map
point; and, when ``project`` is given, loads the project stored in the GeoPackage. It prints one
JSON object on the last line of stdout and leaves with ``os._exit`` because
``QgsApplication.exitQgis()`` can crash at exit in QGIS 3.22.
"""

import json
import os
import sys
import traceback


def _color(c):
    return f"#{c.red():02x}{c.green():02x}{c.blue():02x}"


def _renderer(layer):
    r = layer.renderer()
    out = {"type": r.type() if r else None}
    if r is None:
        return out
    if r.type() == "graduatedSymbol":
        out["attr"] = r.classAttribute()
        out["classes"] = [
            {
                "lower": rng.lowerValue(),
                "upper": rng.upperValue(),
                "label": rng.label(),
                "color": _color(rng.symbol().color()),
            }
            for rng in r.ranges()
        ]
    elif r.type() == "categorizedSymbol":
        out["attr"] = r.classAttribute()
        out["classes"] = [
            {
                "value": "" if c.value() is None else str(c.value()),
                "label": c.label(),
                "color": _color(c.symbol().color()),
            }
            for c in r.categories()
        ]
    elif r.type() == "singleSymbol":
        sym = r.symbol()
        sl = sym.symbolLayer(0)
        out["color"] = _color(sym.color())
        props = sl.properties()
        out["style"] = props.get("style")
        out["outline_color"] = props.get("outline_color")
    return out


def _fields(layer):
    out = {}
    for i, f in enumerate(layer.fields()):
        setup = layer.editorWidgetSetup(i)
        cons = f.constraints()
        out[f.name()] = {
            "alias": layer.attributeAlias(i),
            "comment": f.comment(),
            "widget": setup.type(),
            "widget_config": setup.config(),
            "domain": cons.domainName() if hasattr(cons, "domainName") else None,
        }
    return out


def _metadata(layer):
    md = layer.metadata()
    return {
        "identifier": md.identifier(),
        "title": md.title(),
        "abstract": md.abstract(),
        "licenses": list(md.licenses()),
        "rights": list(md.rights()),
        "history": list(md.history()),
    }


def main(request):
    from qgis.core import (
        Qgis,
        QgsApplication,
        QgsMapRendererParallelJob,
        QgsMapSettings,
        QgsPointXY,
        QgsProject,
        QgsRectangle,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    app = QgsApplication([], False)
    app.initQgis()
    result = {"qgis_version": Qgis.QGIS_VERSION, "layers": {}}
    path = request["gpkg"]
    opened = {}
    for name in request["layers"]:
        layer = QgsVectorLayer(f"{path}|layername={name}", name, "ogr")
        opened[name] = layer
        info = {"valid": layer.isValid()}
        if layer.isValid():
            info.update(
                feature_count=layer.featureCount(),
                geometry_type=int(layer.geometryType()),
                renderer=_renderer(layer),
                fields=_fields(layer),
                metadata=_metadata(layer),
                crs=layer.crs().authid(),
            )
        result["layers"][name] = info

    # the SLD copies in layer_styles: load each into a fresh layer and report what QGIS made
    import sqlite3
    import tempfile

    con = sqlite3.connect(path)
    slds = dict(con.execute("SELECT f_table_name, styleSLD FROM layer_styles"))
    con.close()
    result["sld"] = {}
    for name, sld in slds.items():
        lyr = QgsVectorLayer(f"{path}|layername={name}", name, "ogr")
        with tempfile.NamedTemporaryFile("w", suffix=".sld", delete=False) as fh:
            fh.write(sld)
        msg, ok = lyr.loadSldStyle(fh.name)
        os.unlink(fh.name)
        r = lyr.renderer()
        rules = r.rootRule().children() if r is not None and r.type() == "RuleRenderer" else []
        result["sld"][name] = {
            "ok": bool(ok),
            "message": msg,
            "renderer": r.type() if r else None,
            "rules": [[rule.label(), _color(rule.symbol().color())] for rule in rules],
        }

    areas = opened.get("areas")
    if areas is not None and areas.isValid() and request.get("png"):
        w, h = request["size"]
        settings = QgsMapSettings()
        settings.setLayers([areas])
        settings.setDestinationCrs(areas.crs())
        settings.setOutputSize(QSize(w, h))
        settings.setBackgroundColor(QColor(255, 255, 255))
        x0, y0, x1, y1 = request.get("extent") or [
            areas.extent().xMinimum(),
            areas.extent().yMinimum(),
            areas.extent().xMaximum(),
            areas.extent().yMaximum(),
        ]
        settings.setExtent(QgsRectangle(x0, y0, x1, y1))
        job = QgsMapRendererParallelJob(settings)
        job.start()
        job.waitForFinished()
        image = job.renderedImage()
        image.save(request["png"], "PNG")
        m2p = settings.mapToPixel()
        samples = []
        for x, y in request["points"]:
            px = m2p.transform(QgsPointXY(x, y))
            c = QColor(image.pixel(int(round(px.x())), int(round(px.y()))))
            samples.append({"x": x, "y": y, "px": [px.x(), px.y()], "color": _color(c)})
        result["samples"] = samples

    if request.get("project"):
        project = QgsProject.instance()
        ok = project.read(f"geopackage:{path}?projectName={request['project']}")
        layers = list(project.mapLayers().values())
        tree = [lyr.name() for lyr in project.layerTreeRoot().layerOrder()]
        result["project"] = {
            "read": bool(ok),
            "title": project.title(),
            "layers": {
                lyr.name(): {
                    "valid": lyr.isValid(),
                    "feature_count": lyr.featureCount() if lyr.isValid() else None,
                    "renderer": lyr.renderer().type() if lyr.isValid() and lyr.renderer() else None,
                }
                for lyr in layers
            },
            "order": tree,
            "crs": project.crs().authid(),
        }
    return result


if __name__ == "__main__":
    code = 0
    try:
        with open(sys.argv[1], encoding="utf-8") as fh:
            req = json.load(fh)
        out = main(req)
    except Exception:  # report, never hang: the test reads the JSON
        out = {"error": traceback.format_exc()}
        code = 1
    sys.stdout.write("\n" + json.dumps(out, default=str) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
