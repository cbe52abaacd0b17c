"""The SVG maps: projection, outlines, markers sized by count, places outside Mexico kept apart."""

from __future__ import annotations

from django.template import Context, Template

from rumbo.geo.maps import HEIGHT, MX_BOUNDS, WIDTH, MapPlace, mexico_map, mx_state_outlines, project


def test_the_projection_maps_the_bounds_to_the_corners():
    assert project(MX_BOUNDS[0], MX_BOUNDS[3]) == (0, 0)
    assert project(MX_BOUNDS[2], MX_BOUNDS[1]) == (WIDTH, HEIGHT)
    # Tijuana is north-west of Mérida.
    tij, mer = project(-117.02, 32.53), project(-89.62, 20.97)
    assert tij[0] < mer[0] and tij[1] < mer[1]


def test_the_32_states_are_outlined_within_the_map():
    outlines = mx_state_outlines()
    assert len(outlines) == 32
    assert {o.code for o in outlines} == {f"{i:02d}" for i in range(1, 33)}
    michoacan = next(o for o in outlines if o.code == "16")
    assert michoacan.name == "Michoacán de Ocampo" or michoacan.name.startswith("Michoacán")
    numbers = [
        float(n)
        for part in michoacan.path.replace("M", " ").replace("L", " ").replace("Z", " ").split()
        for n in part.split(",")
    ]
    assert all(0 <= n <= max(WIDTH, HEIGHT) for n in numbers)


def test_markers_are_sized_by_count_and_places_outside_mexico_are_unplaced():
    the_map = mexico_map(
        [
            MapPlace(lat=19.70, lon=-101.19, label="Morelia", count=9),
            MapPlace(lat=20.67, lon=-103.35, label="Guadalajara", count=1),
            MapPlace(lat=34.05, lon=-118.24, label="Los Ángeles"),
            None,
        ],
        highlight={"16"},
        max_radius=18,
    )
    assert [m.place.label for m in the_map.markers] == ["Morelia", "Guadalajara"]  # largest drawn first
    assert the_map.markers[0].r == 18 and the_map.markers[1].r == 6.0  # area ∝ count: 18·√(1/9)
    assert [p.label for p in the_map.unplaced] == ["Los Ángeles"]


def test_the_template_tag_draws_titled_markers_and_links():
    the_map = mexico_map(
        [MapPlace(lat=19.70, lon=-101.19, label="DIF Morelia & <Centro>", url="/x/1/", kind="airport")],
        highlight={"16"},
    )
    html = Template('{% load geo_maps %}{% mexico_map m "Instituciones" map_id="inst" %}').render(
        Context({"m": the_map})
    )
    assert html.count("<path") == 32
    assert html.count("map-state-on") == 1
    assert '<a href="/x/1/"><circle' in html and "map-marker-airport" in html
    assert "DIF Morelia &amp; &lt;Centro&gt;" in html  # escaped
    assert 'aria-labelledby="inst-title"' in html and '<title id="inst-title">Instituciones</title>' in html


def test_zoom_frames_the_highlighted_states_and_the_markers():
    whole = mexico_map([MapPlace(lat=19.70, lon=-101.19, label="Morelia")])
    assert whole.view_box == f"0 0 {WIDTH:g} {HEIGHT:g}"
    zoomed = mexico_map([MapPlace(lat=19.70, lon=-101.19, label="Morelia")], highlight={"16"}, zoom=True)
    left, top, width, height = (float(n) for n in zoomed.view_box.split())
    michoacan = next(o for o in mx_state_outlines() if o.code == "16")
    assert left <= michoacan.box[0] and top <= michoacan.box[1]
    assert left + width >= michoacan.box[2] and top + height >= michoacan.box[3]
    assert width < WIDTH / 2 and abs(width / height - WIDTH / HEIGHT) < 0.01
