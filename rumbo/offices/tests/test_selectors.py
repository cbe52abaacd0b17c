"""Office selectors: which offices a user sees, the tree, the members."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from rumbo.lib.testing.factories import OfficeFactory, member
from rumbo.offices.models import Membership, Role
from rumbo.offices.permissions import Perm
from rumbo.offices.selectors import (
    flatten_tree,
    office_get,
    office_get_for,
    office_members,
    office_tree,
    visible_office_ids,
)


def test_staff_see_only_the_offices_where_they_hold_a_role(world):
    assert visible_office_ids(world.caseworker) == {world.michoacan.pk}
    assert visible_office_ids(world.jalisco_caseworker) == {world.jalisco.pk}
    assert visible_office_ids(world.no_role) == frozenset()


def test_coordinator_sees_own_office_and_every_office_below_it(world):
    grandchild: Any = OfficeFactory(name="Módulo Morelia", parent=world.michoacan)
    assert visible_office_ids(world.coordinator) == {
        world.conofam.pk,
        world.michoacan.pk,
        world.jalisco.pk,
        grandchild.pk,
    }


def test_office_tree_nests_children_under_visible_parents(world):
    grandchild = OfficeFactory(name="Módulo Morelia", parent=world.michoacan)
    (root,) = office_tree(world.coordinator)
    assert root.office == world.conofam
    assert [c.office for c in root.children] == [world.jalisco, world.michoacan]
    nodes = flatten_tree([root])
    assert [(n.office, n.depth) for n in nodes] == [
        (world.conofam, 0),
        (world.jalisco, 1),
        (world.michoacan, 1),
        (grandchild, 2),
    ]


def test_tree_of_a_caseworker_is_a_single_root_even_though_the_office_has_a_parent(world):
    (root,) = office_tree(world.caseworker)
    assert root.office == world.michoacan
    assert root.children == []


def test_office_get_is_404_for_an_invisible_office(world):
    with pytest.raises(Http404):
        office_get(world.caseworker, world.jalisco.pk)
    assert office_get(world.coordinator, world.jalisco.pk) == world.jalisco


def test_office_get_for_is_403_for_a_visible_office_without_the_permission(world):
    with pytest.raises(PermissionDenied):
        office_get_for(world.coordinator, world.michoacan.pk, Perm.MANAGE_MEMBERS)
    with pytest.raises(Http404):
        office_get_for(world.admin, world.jalisco.pk, Perm.MANAGE_MEMBERS)
    assert office_get_for(world.admin, world.michoacan.pk, Perm.MANAGE_MEMBERS) == world.michoacan


def test_members_are_for_office_admins_only(world):
    members = office_members(world.admin, world.michoacan)
    assert {m.user.username for m in members} == {"lucia", "admin-mich", "auditora", "trainer"}
    for user in (world.caseworker, world.auditor, world.coordinator):
        with pytest.raises(PermissionDenied):
            office_members(user, world.michoacan)


def test_a_second_role_in_another_office_makes_that_office_visible(world):
    both: Any = member(world.michoacan, Role.CASEWORKER)
    assert visible_office_ids(both) == {world.michoacan.pk}
    Membership.objects.create(user=both, office=world.jalisco, role=Role.AUDITOR)
    fresh = type(both).objects.get(pk=both.pk)
    assert visible_office_ids(fresh) == {world.michoacan.pk, world.jalisco.pk}
