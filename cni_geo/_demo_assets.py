"""Assets, green spaces and charities of the synthetic demo county (private to cni_geo.demo).

Points are drawn from the settlement densities of :mod:`cni_geo._demo_geometry`: towns get
assets in proportion to their population (civic ones thinner in deprived estates), villages a
few each with set chances, the countryside a handful. Bus stops lie on the roads.
"""

from __future__ import annotations

import numpy as np
import shapely

from ._demo_geometry import CELL, Geography, rng_for

CATEGORY_GROUPS = {
    "community_centre": "community_space",
    "place_of_worship": "community_space",
    "youth_club": "community_space",
    "nursery": "education",
    "primary_school": "education",
    "secondary_school": "education",
    "college": "education",
    "sports_centre": "sport_leisure",
    "swimming_pool": "sport_leisure",
    "pub": "sport_leisure",
    "library": "culture",
    "museum": "culture",
    "arts_centre": "culture",
    "theatre": "culture",
    "park": "green_space",
    "playground": "green_space",
    "nature_reserve": "green_space",
    "gp": "service",
    "pharmacy": "service",
    "food_shop": "service",
    "post_office": "service",
    "hospital": "service",
    "bus_stop": "service",
    "rail_station": "service",
}
GREEN = ("park", "playground", "nature_reserve")

# category: (per 10,000 town residents, minimum per town, mean per village, countryside count,
#            thinner where deprived)
_RATES = {
    "community_centre": (1.5, 1, 0.85, 3, True),
    "place_of_worship": (3.0, 2, 1.2, 18, False),
    "youth_club": (0.6, 1, 0.1, 0, True),
    "nursery": (2.0, 1, 0.35, 2, False),
    "primary_school": (2.2, 1, 0.75, 3, False),
    "secondary_school": (0.5, 1, 0.05, 0, False),
    "college": (0.15, 1, 0.0, 0, False),
    "sports_centre": (0.5, 1, 0.05, 1, True),
    "swimming_pool": (0.25, 1, 0.0, 0, True),
    "pub": (4.0, 2, 1.5, 12, False),
    "library": (0.5, 1, 0.15, 0, True),
    "museum": (0.2, 1, 0.05, 2, True),
    "arts_centre": (0.12, 0, 0.02, 0, True),
    "theatre": (0.08, 0, 0.0, 0, True),
    "park": (1.5, 2, 0.35, 0, True),
    "playground": (3.0, 2, 0.7, 0, True),
    "nature_reserve": (0.1, 0, 0.0, 12, False),
    "gp": (1.0, 1, 0.2, 0, False),
    "pharmacy": (1.7, 1, 0.25, 0, False),
    "food_shop": (5.0, 2, 0.9, 4, False),
    "post_office": (1.5, 1, 0.6, 1, False),
    "hospital": (0.0, 0, 0.0, 0, False),
    "rail_station": (0.0, 1, 0.0, 0, False),
}
# green-space sizes: median area (ha) and lognormal spread
_GREEN_SIZE = {"park": (3.0, 0.7), "playground": (0.12, 0.5), "nature_reserve": (45.0, 0.7)}

_LOCALITY_A = (
    "Ash",
    "Beech",
    "Mill",
    "Church",
    "Station",
    "Kings",
    "Queens",
    "Elm",
    "Oak",
    "Brook",
    "Hill",
    "Meadow",
    "Orchard",
    "Castle",
    "Abbey",
    "Market",
    "Priory",
    "Willow",
    "Holly",
    "Fern",
)
_LOCALITY_B = (
    "field",
    "side",
    " Lane",
    " Road",
    "wood",
    " Green",
    " Park",
    " Street",
    "croft",
    "gate",
)
_SAINTS = ("Mary", "Peter", "John", "Andrew", "Michael", "Aldric", "Luke", "Anne", "George")
_PUB_A = ("Red", "White", "Black", "Golden", "Royal", "Old", "Green", "Three")
_PUB_B = ("Lion", "Hart", "Swan", "Plough", "Bell", "Crown", "Horseshoes", "Oak", "Anchor")
_NAME = {
    "community_centre": "{loc} Community Centre",
    "youth_club": "{loc} Youth Club",
    "nursery": "{loc} Nursery",
    "primary_school": "{loc} Primary School",
    "secondary_school": "{place} {loc} Academy",
    "college": "{place} College",
    "sports_centre": "{loc} Sports Centre",
    "swimming_pool": "{place} Swimming Pool",
    "library": "{loc} Library",
    "museum": "{place} Museum",
    "arts_centre": "{loc} Arts Centre",
    "theatre": "{place} Theatre Royal",
    "park": "{loc} Park",
    "playground": "{loc} Playground",
    "nature_reserve": "{loc} Nature Reserve",
    "gp": "{loc} Surgery",
    "pharmacy": "{loc} Pharmacy",
    "food_shop": "{loc} Stores",
    "post_office": "{loc} Post Office",
    "hospital": "{place} General Hospital",
    "bus_stop": "{loc} (stop {n})",
    "rail_station": "{place} Station",
}
_CHARITY = (
    "{place} Community Trust",
    "{place} Food Bank",
    "{loc} Youth Project",
    "{loc} Scout Group",
    "{place} Heritage Society",
    "Friends of {loc} Park",
    "{loc} Football Club",
    "{place} Women's Institute",
    "{loc} Arts & Crafts Guild",
    "{place} Carers' Network",
    "{loc} Allotment Society",
    "{place} Hospice Shop",
)


def _locality(rng) -> str:
    return str(rng.choice(_LOCALITY_A)) + str(rng.choice(_LOCALITY_B))


def _name(category: str, place: str, rng, n: int) -> str:
    if category == "place_of_worship":
        if rng.random() < 0.75:
            return f"St {rng.choice(_SAINTS)}'s Church, {place}"
        return (
            f"{_locality(rng)} {rng.choice(['Methodist Church', 'Mosque', 'Gurdwara', 'Chapel'])}"
        )
    if category == "pub":
        if rng.random() < 0.2:
            return f"The {rng.choice(_PUB_B)} & {rng.choice(_PUB_B)}"
        return f"The {rng.choice(_PUB_A)} {rng.choice(_PUB_B)}"
    return _NAME[category].format(loc=_locality(rng), place=place, n=n)


def _sample_cells(geo: Geography, weight: np.ndarray, n: int, rng) -> np.ndarray:
    """``n`` points in cells drawn with probability proportional to ``weight`` (1 m precision)."""
    cum = np.cumsum(weight.ravel())
    idx = np.searchsorted(cum, rng.random(n) * cum[-1], side="right")
    idx = np.minimum(idx, cum.size - 1)
    rows, cols = np.divmod(idx, geo.grid.width)
    x = geo.grid.x0 + (cols + rng.uniform(0.05, 0.95, n)) * CELL
    y = geo.grid.y1 - (rows + rng.uniform(0.05, 0.95, n)) * CELL
    return np.round(np.column_stack([x, y]))


def _green_polygon(xy, category, rng, county) -> shapely.Geometry | None:
    median, spread = _GREEN_SIZE[category]
    area = median * 10_000 * rng.lognormal(0.0, spread)
    radius = np.sqrt(area / np.pi)
    theta = np.sort(rng.uniform(0, 2 * np.pi, 11))
    r = radius * rng.uniform(0.75, 1.25, 11)
    ring = np.round(np.column_stack([xy[0] + r * np.cos(theta), xy[1] + r * np.sin(theta)]))
    poly = shapely.Polygon(ring)
    if not poly.is_valid:
        return None
    poly = shapely.set_precision(shapely.intersection(poly, county), 1.0)
    if poly.is_empty or shapely.get_type_id(poly) != 3 or not poly.is_valid or poly.area < 100:
        return None
    # drop the 1 m precision model set_precision attached, so that point_on_surface here equals
    # point_on_surface computed on the polygon read back from the file
    return shapely.from_wkb(shapely.to_wkb(shapely.normalize(poly)))


def build_assets(geo: Geography, roads: dict, seed: int) -> list[dict]:
    """Asset records (``category``, ``name``, ``geometry`` point, ``polygon`` or None)."""
    rng = rng_for(seed, 30)
    county = geo.county
    civic = np.clip(1.0 - 0.97 * geo.deprivation, 0.02, 1.0)
    records: list[dict] = []

    def add(category, pts, place, weight_polys=None):
        for xy in pts:
            if category in GREEN:
                for _ in range(20):
                    poly = _green_polygon(xy, category, rng, county)
                    if poly is not None:
                        break
                    xy = xy + rng.normal(0, 30, 2)
                else:  # pragma: no cover
                    continue
                point = shapely.point_on_surface(poly)
            else:
                point, poly = shapely.Point(xy), None
                if not county.contains(point):
                    continue
            name = _name(category, place, rng, len(records) + 1)
            records.append({"category": category, "name": name, "geometry": point, "polygon": poly})

    towns = [(i, p) for i, p in enumerate(geo.places) if p.kind == "town"]
    for category, (rate, minimum, village_mean, rural_n, thin) in _RATES.items():
        for i, p in towns:
            n = max(minimum, int(rng.poisson(rate * p.pop / 10_000)))
            if category == "hospital":
                n = 1 if p.pop >= 60_000 else 0
            if category == "theatre" and p.pop >= 80_000:
                n = max(n, 1)
            w = geo.kernels[i] * (civic if thin else 1.0)
            add(category, _sample_cells(geo, w, n, rng), p.name)
        for i, p in enumerate(geo.places):
            if p.kind != "village":
                continue
            n = int(rng.poisson(village_mean))
            if category == "rail_station" and i % 7 == 0:
                n = 1
            if n:
                add(category, _sample_cells(geo, geo.kernels[i], n, rng), p.name)
        if rural_n:
            place = "Demoshire"
            add(category, _sample_cells(geo, geo.rural, rural_n, rng), place)

    # bus stops along roads, closer together in towns
    spacing = {"primary": 1_400.0, "secondary": 1_100.0, "tertiary": 900.0, "residential": 850.0}
    geoms, classes = roads["geometry"], roads["road_class"]
    for cls, gap in spacing.items():
        sel = geoms[classes == cls]
        counts = rng.poisson(shapely.length(sel) / gap)
        which = np.repeat(np.arange(len(sel)), counts)
        pts = shapely.line_interpolate_point(
            sel[which], rng.uniform(0.1, 0.9, len(which)), normalized=True
        )
        add("bus_stop", np.round(shapely.get_coordinates(pts)), "Demoshire")
    return records


def build_charities(geo: Geography, seed: int, n: int = 1_100) -> list[dict]:
    """Registered addresses of charities: more in towns, fewer in deprived estates."""
    rng = rng_for(seed, 40)
    pts = _sample_cells(geo, geo.density**1.15 * (1.0 - 0.8 * geo.deprivation), n, rng)
    xy = np.array([[p.x, p.y] for p in geo.places])
    out = []
    for x, y in pts:
        near = geo.places[int(np.argmin((xy[:, 0] - x) ** 2 + (xy[:, 1] - y) ** 2))].name
        template = str(rng.choice(_CHARITY))
        out.append({"name": template.format(place=near, loc=_locality(rng)), "x": x, "y": y})
    return out
