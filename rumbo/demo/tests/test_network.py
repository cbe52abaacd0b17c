"""The demo network: every office of the brief, every role, two-factor devices for administrators."""

from __future__ import annotations

import zoneinfo

from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from rumbo.demo.network import OFFICES, build_network, load_network, network_exists
from rumbo.offices.models import Membership, Office, Role


def test_network_has_every_office_with_parent_location_and_jurisdiction():
    network = build_network()
    offices = network.offices
    assert set(offices) == {spec.code for spec in OFFICES}
    conofam = offices["conofam"]
    assert conofam.kind == Office.Kind.CONOFAM
    for code, state in [("ofam-mich", "16"), ("ofam-jal", "14"), ("ofam-oax", "20"), ("ofam-gro", "12"),
                        ("ofam-chis", "07")]:  # fmt: skip
        ofam = offices[code]
        assert ofam.kind == Office.Kind.OFAM
        assert ofam.parent == conofam
        assert ofam.location.code == state
        served = ofam.jurisdiction.all()
        assert served.count() > 10
        assert {a.parent.code for a in served} == {state}
    tapachula = offices["hn-consulado-tapachula"]
    assert tapachula.kind == Office.Kind.CONSULATE
    assert (tapachula.country, tapachula.represents_country) == ("MX", "HN")
    assert tapachula.parent == offices["hn-sreci"]
    assert (tapachula.location.code, tapachula.location.level) == ("07089", 2)
    assert {a.parent.code for a in tapachula.jurisdiction.all()} == {"07"}
    cdmx = offices["hn-consulado-cdmx"]
    assert cdmx.parent == offices["hn-sreci"]
    assert {a.parent.code for a in cdmx.jurisdiction.all()} == {"09"}
    assert offices["hn-sreci"].kind == Office.Kind.MINISTRY
    assert offices["hn-sreci"].country == "HN"
    los_angeles = offices["mx-consulado-los-angeles"]
    assert (los_angeles.country, los_angeles.represents_country) == ("US", "MX")
    assert los_angeles.parent == offices["mx-sre"]
    assert (los_angeles.location.country, los_angeles.location.code) == ("US", "06")
    assert los_angeles.time_zone == "America/Los_Angeles"
    assert offices["oim-mexico"].kind == Office.Kind.IOM_PROGRAMME
    for office in offices.values():
        assert office.time_zone in zoneinfo.available_timezones()


def test_every_role_has_a_demo_user():
    build_network()
    roles = set(Membership.objects.filter(user__username__contains=".").values_list("role", flat=True))
    assert roles == set(Role.values)


def test_coordinator_sits_at_conofam_and_trainer_at_iom():
    network = build_network()
    assert Membership.objects.filter(
        user=network.users["coordinator.conofam"], office__code="conofam", role=Role.COORDINATOR
    ).exists()
    assert Membership.objects.filter(
        user=network.users["trainer.oim"], office__kind=Office.Kind.IOM_PROGRAMME, role=Role.TRAINER
    ).exists()


def test_demo_users_log_in_with_the_demo_password(settings):
    network = build_network()
    for user in network.users.values():
        assert user.check_password(settings.RUMBO_DEMO_PASSWORD)


def test_administrators_have_a_confirmed_authenticator_and_printed_backup_codes():
    network = build_network()
    admins = Membership.objects.filter(role=Role.OFFICE_ADMIN).values_list("user__username", flat=True)
    assert set(admins) == {"admin.michoacan", "admin.tapachula"}
    credentials = {c.username: c for c in network.credentials()}
    for username in admins:
        user = network.users[username]
        assert TOTPDevice.objects.filter(user=user, confirmed=True).count() == 1
        codes = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
        assert len(codes) == 5
        assert set(credentials[username].backup_codes) == codes
    assert credentials["caseworker.michoacan"].backup_codes == []


def test_building_twice_creates_nothing_new_and_keeps_backup_codes():
    first = build_network()
    codes = {c.username: c.backup_codes for c in first.credentials()}
    second = build_network()
    assert (second.offices_created, second.users_created) == (0, 0)
    assert {c.username: c.backup_codes for c in second.credentials()} == codes
    assert Office.objects.count() == len(OFFICES)


def test_load_network_reads_the_existing_network():
    assert not network_exists()
    build_network()
    assert network_exists()
    loaded = load_network()
    assert len(loaded.offices) == len(OFFICES)
    assert "caseworker.michoacan" in loaded.users
