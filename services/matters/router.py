"""HTTP routes of the matters service under /api/v1/matters."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/matters", tags=["matters"])
