"""What the log's API answers: signed tree heads, proofs and entries. Hashes, signatures and
leaves travel as base64, as :mod:`vigil.translog.sth` and the proofs' checkers expect them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class TreeHeadOut(BaseModel):
    """A signed tree head: the log's size and root hash at a time, signed by the log's key."""

    log_id: str = Field(description="base64")
    tree_size: int
    timestamp_ms: int
    root_hash: str = Field(description="base64")
    signature: str = Field(description="base64 Ed25519 signature over the head")


class InclusionProofOut(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str = Field(description="base64")
    audit_path: list[str] = Field(description="base64 hashes, leaf to root")


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    consistency_path: list[str] = Field(description="base64 hashes")


class LogEntryOut(BaseModel):
    index: int
    leaf: dict[str, Any] = Field(description="the leaf, decoded from its JSON")
    leaf_data: str = Field(description="base64 of the leaf's bytes, as hashed")
    leaf_hash: str = Field(description="base64")


class LogEntriesOut(BaseModel):
    entries: list[LogEntryOut]


class LogKeyOut(BaseModel):
    public_key: str = Field(description="PEM (SubjectPublicKeyInfo)")
    log_id: str = Field(description="base64 SHA-256 of the raw public key")
    first_size: int = Field(description="smallest tree size of the heads this key signs")
    last_size: int | None = Field(description="largest; null: the current key")
    announced_at_index: int | None = Field(description="the leaf that announced it; null: the "
                                           "log's first key")
    retired_at: str | None = Field(description="when its successor was announced")


class LogKeysOut(BaseModel):
    keys: list[LogKeyOut]
