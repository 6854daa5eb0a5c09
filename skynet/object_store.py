"""The object store the settings name (local directory or S3), opened by every process part
that needs one: the runtime, the CLI, Ray workers (kept apart from skynet/runtime.py so that a
Ray worker does not import the whole process wiring)."""

from __future__ import annotations

from search_api.app import API_PREFIX
from skynet.settings import Settings
from storage.local import LocalObjectStore
from storage.objectstore import ObjectStore
from storage.s3 import S3ObjectStore


def open_object_store(settings: Settings) -> ObjectStore:
    if settings.storage_backend == "s3":
        return S3ObjectStore(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            bucket=settings.s3_bucket,
            secure=settings.s3_secure,
        )
    return LocalObjectStore(
        root=settings.objects_dir,
        public_base_url=f"{settings.api_base_url}{API_PREFIX}/objects",
        signing_key=settings.signing_key_bytes(),
    )
