"""HTTP routes of the disclosure service under /api/v1/disclosure."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/disclosure", tags=["disclosure"])
