"""The demo office network and its users: one user for every role, administrators with two-factor devices.

Everything here is idempotent: offices are keyed by ``code``, users by ``username``; running it again updates
the offices and leaves existing users, memberships and devices alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from rumbo.geo.models import AdminArea
from rumbo.offices.models import Membership, Office, Role

DEMO_MARKER_CODE = "conofam"  # the network exists when this office does
BACKUP_CODES_PER_ADMIN = 5
URL = "http://127.0.0.1:8000/"

Area = tuple[str, int, str]  # (country, level, code)


@dataclass(frozen=True)
class OfficeSpec:
    code: str
    name: str
    kind: str
    country: str = "MX"
    represents_country: str = ""
    parent: str | None = None
    location: Area | None = None
    # Jurisdiction: every municipality of these (country, state code) pairs, plus these explicit areas.
    municipalities_of: tuple[tuple[str, str], ...] = ()
    areas: tuple[Area, ...] = ()
    time_zone: str = "America/Mexico_City"


OFFICES: list[OfficeSpec] = [
    OfficeSpec(
        "conofam",
        "CONOFAM — Coordinación Nacional de Oficinas Estatales de Atención a Migrantes",
        Office.Kind.CONOFAM,
        location=("MX", 1, "09"),
    ),
    OfficeSpec(
        "ofam-mich",
        "OFAM Michoacán",
        Office.Kind.OFAM,
        parent="conofam",
        location=("MX", 1, "16"),
        municipalities_of=(("MX", "16"),),
    ),
    OfficeSpec(
        "ofam-jal",
        "OFAM Jalisco",
        Office.Kind.OFAM,
        parent="conofam",
        location=("MX", 1, "14"),
        municipalities_of=(("MX", "14"),),
    ),
    OfficeSpec(
        "ofam-oax",
        "OFAM Oaxaca",
        Office.Kind.OFAM,
        parent="conofam",
        location=("MX", 1, "20"),
        municipalities_of=(("MX", "20"),),
    ),
    OfficeSpec(
        "ofam-gro",
        "OFAM Guerrero",
        Office.Kind.OFAM,
        parent="conofam",
        location=("MX", 1, "12"),
        municipalities_of=(("MX", "12"),),
    ),
    OfficeSpec(
        "ofam-chis",
        "OFAM Chiapas",
        Office.Kind.OFAM,
        parent="conofam",
        location=("MX", 1, "07"),
        municipalities_of=(("MX", "07"),),
    ),
    OfficeSpec(
        "hn-sreci",
        "Secretaría de Relaciones Exteriores y Cooperación Internacional de Honduras",
        Office.Kind.MINISTRY,
        country="HN",
        represents_country="HN",
        location=("HN", 1, "08"),
        time_zone="America/Tegucigalpa",
    ),
    OfficeSpec(
        "hn-consulado-tapachula",
        "Consulado General de Honduras en Tapachula",
        Office.Kind.CONSULATE,
        represents_country="HN",
        parent="hn-sreci",
        location=("MX", 2, "07089"),
        municipalities_of=(("MX", "07"),),
    ),
    OfficeSpec(
        "hn-consulado-cdmx",
        "Consulado de Honduras en Ciudad de México",
        Office.Kind.CONSULATE,
        represents_country="HN",
        parent="hn-sreci",
        location=("MX", 1, "09"),
        municipalities_of=(("MX", "09"),),
    ),
    OfficeSpec(
        "mx-sre",
        "Secretaría de Relaciones Exteriores — Protección Consular",
        Office.Kind.MINISTRY,
        represents_country="MX",
        location=("MX", 1, "09"),
    ),
    OfficeSpec(
        "mx-consulado-los-angeles",
        "Consulado General de México en Los Ángeles",
        Office.Kind.CONSULATE,
        country="US",
        represents_country="MX",
        parent="mx-sre",
        location=("US", 1, "06"),
        areas=(("US", 1, "06"),),
        time_zone="America/Los_Angeles",
    ),
    OfficeSpec(
        "oim-mexico",
        "OIM México — Programa de fortalecimiento de capacidades",
        Office.Kind.IOM_PROGRAMME,
        location=("MX", 1, "09"),
    ),
]


@dataclass(frozen=True)
class UserSpec:
    username: str
    office: str
    role: str
    first_name: str
    last_name: str


USERS: list[UserSpec] = [
    UserSpec("coordinator.conofam", "conofam", Role.COORDINATOR, "Rocío", "Villalobos Ibarra"),
    UserSpec("admin.michoacan", "ofam-mich", Role.OFFICE_ADMIN, "Arturo", "Tapia Magaña"),
    UserSpec("caseworker.michoacan", "ofam-mich", Role.CASEWORKER, "Lucía", "Ramírez Ochoa"),
    UserSpec("labour.michoacan", "ofam-mich", Role.LABOUR_OFFICER, "Esteban", "Zavala Ceja"),
    UserSpec("auditor.michoacan", "ofam-mich", Role.AUDITOR, "Marisol", "Barajas León"),
    UserSpec("caseworker.jalisco", "ofam-jal", Role.CASEWORKER, "Jorge", "Arreola Navarro"),
    UserSpec("caseworker.oaxaca", "ofam-oax", Role.CASEWORKER, "Citlali", "Santiago Bautista"),
    UserSpec("caseworker.guerrero", "ofam-gro", Role.CASEWORKER, "Rigoberto", "Nava Galeana"),
    UserSpec("caseworker.chiapas", "ofam-chis", Role.CASEWORKER, "Gabriela", "Sántiz Pérez"),
    UserSpec("admin.tapachula", "hn-consulado-tapachula", Role.OFFICE_ADMIN, "Suyapa", "Zelaya Cálix"),
    UserSpec(
        "consular.tapachula", "hn-consulado-tapachula", Role.CONSULAR_OFFICER, "Marvin", "Maradiaga Paz"
    ),
    UserSpec("consular.cdmx", "hn-consulado-cdmx", Role.CONSULAR_OFFICER, "Dania", "Euceda Ordóñez"),
    UserSpec(
        "consular.losangeles", "mx-consulado-los-angeles", Role.CONSULAR_OFFICER, "Ernesto", "Valdez Ruiz"
    ),
    UserSpec("trainer.oim", "oim-mexico", Role.TRAINER, "Ana Laura", "Méndez Quiroz"),
]


@dataclass
class Credential:
    username: str
    office: str
    role: str
    backup_codes: list[str] = field(default_factory=list)


@dataclass
class Network:
    offices: dict[str, Office]
    users: dict[str, Any]
    offices_created: int
    users_created: int

    def credentials(self) -> list[Credential]:
        """One row per demo user, with the backup codes still unused for administrators."""
        rows = []
        for spec in USERS:
            user = self.users.get(spec.username)
            if user is None or spec.office not in self.offices:
                continue
            codes = list(
                StaticToken.objects.filter(device__user=user, device__confirmed=True)
                .order_by("id")
                .values_list("token", flat=True)
            )
            rows.append(Credential(spec.username, self.offices[spec.office].name, str(spec.role), codes))
        return rows


def network_exists() -> bool:
    return Office.objects.filter(code=DEMO_MARKER_CODE).exists()


def load_network() -> Network:
    """The existing demo offices and users, read only (for printing the credentials again)."""
    offices = {o.code: o for o in Office.objects.filter(code__in=[s.code for s in OFFICES])}
    users = {u.username: u for u in get_user_model().objects.filter(username__in=[s.username for s in USERS])}
    return Network(offices, users, 0, 0)


def _area(key: Area | None) -> AdminArea | None:
    if key is None:
        return None
    country, level, code = key
    return AdminArea.objects.get(country=country, level=level, code=code)


def _jurisdiction(spec: OfficeSpec) -> list[AdminArea]:
    areas: list[AdminArea] = []
    for country, state in spec.municipalities_of:
        areas.extend(AdminArea.objects.filter(country=country, level=2, parent__code=state, parent__level=1))
    areas.extend(a for a in (_area(k) for k in spec.areas) if a is not None)
    return areas


def _backup_token(rng: random.Random) -> str:
    # Same shape as StaticToken.random_token() (8 lower-case base32 characters), but reproducible.
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(8))


def build_network(*, seed: int = 2026) -> Network:
    """Create or update the demo offices, users, memberships and two-factor devices."""
    rng = random.Random(seed)
    offices: dict[str, Office] = {}
    offices_created = 0
    for spec in OFFICES:
        office, created = Office.objects.update_or_create(
            code=spec.code,
            defaults={
                "name": spec.name,
                "kind": spec.kind,
                "country": spec.country,
                "represents_country": spec.represents_country,
                "parent": offices[spec.parent] if spec.parent else None,
                "location": _area(spec.location),
                "time_zone": spec.time_zone,
                "is_active": True,
            },
        )
        office.full_clean()
        office.jurisdiction.set(_jurisdiction(spec))
        offices[spec.code] = office
        offices_created += created

    user_model = get_user_model()
    # One hash for every demo user: PBKDF2 is slow on purpose and the password is printed anyway.
    password_hash = make_password(settings.RUMBO_DEMO_PASSWORD)
    users: dict[str, Any] = {}
    users_created = 0
    for uspec in USERS:
        user, created = user_model.objects.get_or_create(
            username=uspec.username,
            defaults={
                "first_name": uspec.first_name,
                "last_name": uspec.last_name,
                "email": f"{uspec.username}@demo.rumbo.example",
                "password": password_hash,
            },
        )
        users_created += created
        Membership.objects.get_or_create(user=user, office=offices[uspec.office], role=uspec.role)
        if uspec.role == Role.OFFICE_ADMIN:
            _ensure_two_factor(user, rng)
        users[uspec.username] = user
    return Network(offices, users, offices_created, users_created)


def _ensure_two_factor(user: Any, rng: random.Random) -> None:
    """Administrators must use TOTP: give them a confirmed authenticator and printed backup codes."""
    if not TOTPDevice.objects.filter(user=user).exists():
        TOTPDevice.objects.create(
            user=user, name="Demo authenticator", confirmed=True, key=rng.randbytes(20).hex()
        )
    if not StaticDevice.objects.filter(user=user).exists():
        device = StaticDevice.objects.create(user=user, name="Demo backup codes", confirmed=True)
        StaticToken.objects.bulk_create(
            StaticToken(device=device, token=_backup_token(rng)) for _ in range(BACKUP_CODES_PER_ADMIN)
        )
