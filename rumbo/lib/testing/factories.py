"""factory_boy factories for offices and users. Persons are made through the real services."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model

from rumbo.offices.models import Membership, Office, Role

PASSWORD = "correct-horse-battery-9"


class OfficeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Office

    name = factory.Sequence(lambda n: f"Office {n}")
    code = factory.Sequence(lambda n: f"office-{n}")
    kind = Office.Kind.OFAM


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Ana"
    last_name = "Pérez"
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj: Any, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    office = factory.SubFactory(OfficeFactory)
    role = Role.CASEWORKER


def member(office: Office, role: str, **user_fields: object) -> object:
    """A new user holding ``role`` in ``office``."""
    user = UserFactory(**user_fields)
    MembershipFactory(user=user, office=office, role=role)
    return user
