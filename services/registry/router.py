"""HTTP routes of the registry service under /api/v1/registry."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])
