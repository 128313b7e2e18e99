"""The system entities Stateyard runs on, shipped inside the package.

They live in the package rather than in a project's ``schema/`` folder because the server
cannot start without them and its code relies on their columns; builders extend them with
their own files (an extra column on ``user_account``, say) like any other entity.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import msgspec
import yaml
from sqlalchemy import Column, Integer, MetaData, String, Table

from stateyard.entities.schemas import EntityDef, SchemaDocument

ADMINISTRATORS = "administrators"
USERS = "users"

#: Bookkeeping that is not an entity: the counter processes watch to notice definition changes.
internal_metadata = MetaData()
META_TABLE = Table(
    "stateyard_meta",
    internal_metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Integer(), nullable=False),
)
SCHEMA_REVISION = "schema_revision"
#: Bumped by every change to who someone is (accounts, group membership, revoked tokens).
SECURITY_REVISION = "security_revision"
META_KEYS = (SCHEMA_REVISION, SECURITY_REVISION)


@cache
def system_document() -> SchemaDocument:
    text = resources.files("stateyard.entities").joinpath("system.yaml").read_text()
    return msgspec.convert(yaml.safe_load(text), SchemaDocument)


def system_definitions() -> dict[str, EntityDef]:
    return {d.name: d for d in system_document().entities}


SYSTEM_ENTITY_NAMES = frozenset(d.name for d in system_document().entities)
