"""``{% mexico_map the_map title %}``: draw a :class:`rumbo.geo.maps.MexicoMap` as inline SVG."""

from __future__ import annotations

from typing import Any

from django import template

from rumbo.geo.maps import MexicoMap

register = template.Library()


@register.inclusion_tag("geo/_mexico_map.html")
def mexico_map(the_map: MexicoMap, title: str, description: str = "", map_id: str = "map") -> dict[str, Any]:
    return {"map": the_map, "title": title, "description": description, "map_id": map_id}
