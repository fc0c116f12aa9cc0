"""Rules of the police geography, the demo city and small-count disclosure that decide a published
number (issue 14).

Geography: which polygons are accepted, repaired or refused (and what the refusal says), how
cuadrante ids are learnt. Disclosure: which published totals a reader can combine into a count
of 1 to 4, and what the report hides so that none can be. Each test builds the smallest input
where the rule it names decides the result.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from analysis.data.geography import CDMX_BOUNDS, OVERLAP_TOLERANCE, read_geography
from analysis.data.readers import InputError
from analysis.report import disclosure as dc


def _geojson(path, rings: dict[str, list[tuple[float, float]]]):
    """A sector GeoJSON: {sector: exterior ring (closed or not)}, one Polygon feature each."""
    feats = [{"type": "Feature", "properties": {"sector": s},
              "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in [*ring, ring[0]]]]}}
             for s, ring in rings.items()]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def _rect(x: float, y: float, w: float, h: float) -> list[tuple[float, float]]:
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def _km2_by_hand(w_deg: float, h_deg: float, lat_deg: float) -> float:
    """Area of a w x h degree rectangle: a degree is 111.32 km (40 075 km / 360) north-south and
    111.32 km x cos(latitude) east-west (the equirectangular approximation the messages use)."""
    return (w_deg * 111.32) * (h_deg * 111.32 * math.cos(math.radians(lat_deg)))


# -- cuadrante ids --------------------------------------------------------------------------------
def test_rule_a_cuadrante_file_teaches_ids_of_known_sectors_only(tmp_path):
    """Records placed by their cuadrante id count in the cuadrante's sector when that sector is in
    the geography (by name, compared without case or spacing); the method returns how many were
    learnt, and a feature without both properties is refused (it would silently drop records)."""
    geo = read_geography(_geojson(tmp_path / "s.geojson", {"A": _rect(-99.20, 19.40, 0.01, 0.01),
                                                          "B": _rect(-99.19, 19.40, 0.01, 0.01)}))
    cf = tmp_path / "c.geojson"
    props = [{"cuadrante": "C-1", "sector": "A"}, {"cuadrante": "C-2", "sector": " b "},
             {"cuadrante": "C-3", "sector": "ZZZ"}]
    cf.write_text(json.dumps({"type": "FeatureCollection",
                              "features": [{"type": "Feature", "properties": p, "geometry": None} for p in props]}))
    assert geo.add_cuadrantes(cf) == 2
    got = geo.sector_of_id(pd.Series(["C-1", " c-2", "C-3"]))
    assert got.iloc[:2].tolist() == ["A", "B"] and pd.isna(got.iloc[2])

    for p in ({"cuadrante": "C-4"}, {"sector": "A"}):
        cf.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": p}]}))
        with pytest.raises(InputError, match="feature 0 lacks 'cuadrante' or 'sector'"):
            geo.add_cuadrantes(cf)


# -- invalid polygons: repaired to their polygonal part, or refused ------------------------------
def test_rule_an_invalid_polygon_is_repaired_to_its_polygonal_part(tmp_path):
    """A ring with a zero-width spike (make_valid gives the square plus a stray line) keeps the
    square: records inside still count in the sector; a ring that touches itself (make_valid gives
    a Polygon with a hole) is kept as that polygon. The audit line gives the repaired area."""
    x, y = -99.20, 19.40
    spike = [(x, y), (x + 0.01, y), (x + 0.01, y + 0.01), (x + 0.005, y + 0.01), (x + 0.005, y + 0.02),
             (x + 0.005, y + 0.01), (x, y + 0.01)]
    x2 = -99.10
    touching = [(x2, y), (x2 + 0.04, y), (x2 + 0.04, y + 0.04), (x2 + 0.02, y + 0.04), (x2 + 0.03, y + 0.02),
                (x2 + 0.01, y + 0.02), (x2 + 0.02, y + 0.04), (x2, y + 0.04)]
    geo = read_geography(_geojson(tmp_path / "s.geojson", {"S": spike, "T": touching}))
    g = geo.sectors.set_index("sector").geometry
    assert g["S"].geom_type == "Polygon" and g["S"].area == pytest.approx(1e-4)
    assert g["T"].geom_type == "Polygon" and g["T"].area == pytest.approx(0.04 ** 2 - 0.02 * 0.02 / 2)
    assert geo.locate(np.array([x + 0.002, x2 + 0.005]), np.array([y + 0.002, y + 0.005])).tolist() == ["S", "T"]
    assert len(geo.repairs) == 2
    assert f"{_km2_by_hand(0.01, 0.01, y + 0.005):.3f} km2 after repair" in geo.repairs[0]


def test_rule_a_polygon_with_no_area_cannot_be_repaired(tmp_path):
    """A ring whose corners lie on one line has no polygonal part: refused, not kept as a line."""
    f = _geojson(tmp_path / "s.geojson", {"A": _rect(-99.20, 19.40, 0.01, 0.01),
                                          "L": [(-99.10, 19.40), (-99.09, 19.40), (-99.08, 19.40)]})
    with pytest.raises(InputError, match=r"feature 1 \(sector 'L'\): invalid polygon .* cannot be repaired"):
        read_geography(f)


# -- overlapping sectors --------------------------------------------------------------------------
def test_rule_overlaps_beyond_a_tenth_of_a_percent_are_refused_with_their_area(tmp_path):
    """Two sectors sharing half their area are refused, the message giving the shared area (a
    0.01 x 0.01 degree square at latitude 19.405) and its share of the smaller sector."""
    f = _geojson(tmp_path / "s.geojson", {"A": _rect(-99.20, 19.40, 0.02, 0.01), "B": _rect(-99.19, 19.40, 0.02, 0.01)})
    km2 = _km2_by_hand(0.01, 0.01, 19.405)
    with pytest.raises(InputError, match=rf"'A' and 'B' share {km2:.3f} km2 \(50\.0% of the smaller\)"):
        read_geography(f)


def test_rule_an_overlap_of_exactly_the_tolerance_is_digitising_noise(tmp_path):
    """Up to OVERLAP_TOLERANCE (0.1 %) of the smaller sector inclusive is accepted; twice that is
    refused. Dyadic coordinates make the areas exact, so the share is 1/1000 to the last bit."""
    u, h = 2.0 ** -16, 2.0 ** -7
    x, y = -99.25, 19.375
    small = _rect(x, y, 1000 * u, h)
    assert (u * h) / (1000 * u * h) == OVERLAP_TOLERANCE
    geo = read_geography(_geojson(tmp_path / "a.geojson", {"S": small, "L": _rect(x + 999 * u, y, 2000 * u, h)}))
    assert geo.names == ["S", "L"]
    with pytest.raises(InputError, match="sector polygons overlap: 'S' and 'L'"):
        read_geography(_geojson(tmp_path / "b.geojson", {"S": small, "L": _rect(x + 998 * u, y, 2000 * u, h)}))


# -- coordinates that are not lon/lat in Mexico City ----------------------------------------------
def _edge_boxes():
    """Rectangles inside CDMX_BOUNDS touching each of its four edges."""
    x0, y0, x1, y1 = CDMX_BOUNDS
    return {"west": (x0, 19.4, x0 + 0.01, 19.41), "east": (x1 - 0.01, 19.4, x1, 19.41),
            "south": (-99.2, y0, -99.19, y0 + 0.01), "north": (-99.2, y1 - 0.01, -99.19, y1)}


@pytest.mark.parametrize("edge", ["west", "east", "south", "north"])
def test_rule_swapped_coordinates_are_recognised_up_to_the_city_edge(tmp_path, edge):
    """The bounds are inclusive: a sector touching an edge of CDMX_BOUNDS is in the city, so the
    same sector with longitude and latitude exchanged is diagnosed as swapped (not as projected)."""
    a, b, c, d = _edge_boxes()[edge]
    read_geography(_geojson(tmp_path / "ok.geojson", {"E": [(a, b), (c, b), (c, d), (a, d)]}))
    mirrored = _geojson(tmp_path / "sw.geojson", {"E": [(b, a), (b, c), (d, c), (d, a)]})
    with pytest.raises(InputError, match="latitude and longitude are swapped"):
        read_geography(mirrored)


@pytest.mark.parametrize("xs,ys,hint", [
    ((179.0, 180.0), (19.0, 20.0), "not in Mexico City"),   # 180 is still a longitude
    ((180.0, 180.5), (19.0, 20.0), "not degrees"),          # beyond it, whatever the latitude
    ((170.0, 190.0), (19.0, 20.0), "not degrees"),          # one side beyond is enough
    ((10.0, 11.0), (89.0, 90.0), "not in Mexico City"),     # 90 is still a latitude
    ((10.0, 11.0), (90.0, 90.5), "not degrees"),            # beyond it, whatever the longitude
    ((10.0, 11.0), (80.0, 95.0), "not degrees"),
])
def test_rule_coordinates_beyond_180_or_90_are_not_degrees(tmp_path, xs, ys, hint):
    """Longitudes run to +-180 and latitudes to +-90 inclusive: a polygon beyond either (UTM
    metres, say) gets the 'convert to WGS84' hint, one within both is degrees somewhere else."""
    (a, c), (b, d) = xs, ys
    with pytest.raises(InputError, match=hint):
        read_geography(_geojson(tmp_path / "s.geojson", {"X": [(a, b), (c, b), (c, d), (a, d)]}))


def test_rule_repeated_sector_ids_are_listed_five_at_most(tmp_path):
    """A file repeating sector ids is refused naming the first five repeated ids and where they
    are (as the overlap message lists five pairs): the message stays readable for a broken file."""
    rings = {}
    feats = []
    for k in range(6):
        rings[f"S{k}"] = _rect(-99.30 + 0.02 * k, 19.40, 0.01, 0.01)
    f = tmp_path / "s.geojson"
    for rep in range(2):
        for s, ring in rings.items():
            r = [(x, y + 0.02 * rep) for x, y in ring]
            feats.append({"type": "Feature", "properties": {"sector": s},
                          "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in [*r, r[0]]]]}})
    f.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    with pytest.raises(InputError) as e:
        read_geography(f)
    msg = str(e.value)
    assert "'S0' in features 0, 6" in msg and "'S4' in features 4, 10" in msg
    assert "'S5'" not in msg


# -- the demo city --------------------------------------------------------------------------------
def test_rule_the_demo_city_can_be_written_up_to_its_horizon_month(tmp_path, monkeypatch):
    """HORIZON (2035-12) is the demo's last month inclusive: asking for it passes the check and
    goes on to draw the city (stopped here, to stay fast: the draw itself is tested elsewhere)."""
    from analysis.data import demo

    class Drawn(Exception):
        pass

    def stop(*a, **k):
        raise Drawn

    monkeypatch.setattr(demo, "simulate_city", stop)
    with pytest.raises(Drawn):
        demo.write_demo_city(tmp_path, str(demo.HORIZON))
    with pytest.raises(ValueError, match="demo months run from"):
        demo.write_demo_city(tmp_path, str(demo.HORIZON + 1))


# -- disclosure: which cells a published number covers --------------------------------------------
def _panel(counts: dict[str, list[int]], starts: dict[str, str], first: str = "2020-01") -> pd.DataFrame:
    rows = []
    for u, ys in counts.items():
        for k, y in enumerate(ys):
            rows.append({"unit": u, "period": pd.Period(first, "M") + k, "shootings": y,
                         "treat_start": pd.Period(starts[u], "M") if u in starts else pd.NaT})
    p = pd.DataFrame(rows)
    p["treat_start"] = p.treat_start.astype("period[M]")
    return p


def test_rule_a_table_span_covers_its_first_and_last_month():
    """cells_of(first, last) is inclusive at both ends, as the sector table's spans are (its
    'first 12 months' run from the start month s to s + 11)."""
    p = _panel({"A": [1, 2, 3, 4, 5, 6]}, {})
    c = dc.cells_of(p, ["A"], pd.Period("2020-02", "M"), pd.Period("2020-04", "M"))
    assert c == frozenset(("A", pd.Period(m, "M").ordinal) for m in ("2020-02", "2020-03", "2020-04"))
    assert dc.total_of(p, "shootings", c) == 2 + 3 + 4


# -- disclosure: what a reader can combine --------------------------------------------------------
def _aggs(counts: dict[int, int], parts: dict[str, set[int]]) -> list[dc.Aggregate]:
    """Published totals over sets of cells, each the sum of the cells' counts (so they agree)."""
    return [dc.Aggregate(k, frozenset(c), float(sum(counts[i] for i in c))) for k, c in parts.items()]


def test_rule_overlapping_published_parts_do_not_subtract():
    """A remainder is read off disjoint parts only: two published totals that share a cell do not
    add up to anything inside a larger total, so no count is found where there is none."""
    # b - e - f would be 3, but e and f share cell 3 (counted twice): nothing is disclosed
    aggs = _aggs({1: 6, 2: 6, 3: 5, 4: 7, 5: 8}, {"b": {1, 2, 3, 4, 5}, "e": {1, 2, 3}, "f": {3, 4}})
    assert dc.find_disclosures(aggs) == []
    # the same after the largest part is set aside: f and g share cell 4
    aggs = _aggs({1: 6, 2: 6, 3: 6, 4: 15, 5: 6, 6: 6},
                 {"b": {1, 2, 3, 4, 5, 6}, "e": {1, 2, 3}, "f": {3, 4}, "g": {4, 5}})
    assert dc.find_disclosures(aggs) == []


def test_rule_a_reader_also_tries_the_parts_without_the_largest_one():
    """The largest part e blocks f and g (they overlap it); without e, f and g are disjoint and
    b - f - g gives the 3 victims of cells 2 and 5. Publishing b twice (several methods give the
    program's total) must not hide it: the same cells are not a part of themselves."""
    aggs = _aggs({1: 6, 2: 1, 3: 6, 4: 6, 5: 2}, {"b": {1, 2, 3, 4, 5}, "e": {1, 2, 3}, "f": {3, 4}, "g": {1}})
    assert dc.find_disclosures(aggs) == ["b minus f, g: 3"]
    again = dc.Aggregate("b again", aggs[0].cells, aggs[0].total)
    assert dc.find_disclosures(aggs + [again]) == ["b minus f, g: 3", "b again minus f, g: 3"]


def test_rule_the_table_count_hidden_first_is_the_smallest_one_used():
    """When a remainder leaks, suppress_cells hides a table count the reader used, the smallest
    first (fewest sector-months; here also the fewest victims), and stops once nothing leaks."""
    counts = {1: 5, 2: 3, 3: 3, 4: 3}
    fixed = _aggs(counts, {"program": {1, 2, 3, 4}})
    cells = _aggs(counts, {"a two months": {2, 3}, "b one month": {1}})
    # program 14 - 6 - 5 leaves the 3 victims of cell 4; either count alone leaves 8 or 9
    assert dc.find_disclosures(fixed + cells) == ["program minus a two months, b one month: 3"]
    assert dc.suppress_cells(fixed, cells) == {"b one month": "n/p"}


def test_rule_a_sector_with_no_victims_is_never_hidden_to_protect_others():
    """Secondary suppression hides the shown sector with the fewest victims *above zero*: hiding
    a sector with none would not lift the hidden total out of 1 to 4."""
    p = _panel({"A": [0, 2, 0, 0], "Z": [0, 0, 0, 0], "B": [3, 3, 3, 3]}, {"A": "2020-01", "Z": "2020-01", "B": "2020-01"})
    assert dc.hidden_sectors(p, "shootings") == {"A": "primary", "B": "secondary"}


def test_rule_a_results_file_without_recorded_means_reveals_no_total(tmp_path):
    """Only rows with a recorded mean reveal mean x sector-months; a program.csv without that
    column (an estimate that did not run) adds no aggregate."""
    p = _panel({"A": [6, 6, 6]}, {"A": "2020-02"})
    pd.DataFrame([{"method": "ppml", "att": -0.5}]).to_csv(tmp_path / "program.csv", index=False)
    aggs, small = dc.published_aggregates(tmp_path, p, [], {})
    assert aggs == [] and small == []
