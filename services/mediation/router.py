"""HTTP routes of the mediation service under /api/v1/mediation."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/mediation", tags=["mediation"])
