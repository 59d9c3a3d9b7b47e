"""HTTP routes of the registry service: /api/v1/registry for people and staff, /internal/v1/registry for
the gateway's log-in."""

from __future__ import annotations

import tempfile
from datetime import date
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from services.registry import importer, schemas
from services.registry.rules.roles import Role
from services.registry.service import IMPORTER_ROLES, RegistryService
from youmin.kit.auth import CurrentPrincipal, Principal
from youmin.kit.errors import Forbidden, SafeStr, problem
from youmin.kit.relay import asyncpg_dsn
from youmin.kit.service import SessionDep

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])
internal_router = APIRouter(prefix="/internal/v1/registry", tags=["registry-internal"])

Code = Annotated[str, Path(min_length=6, max_length=40, pattern=r"^[0-9]+$", description="An org unit code")]
CodeQuery = Annotated[str, Query(min_length=6, max_length=40, pattern=r"^[0-9]+$", description="An org unit code")]
ImportKind = Annotated[str, Path(pattern=f"^({'|'.join(importer.KINDS)})$", description="What the CSV holds")]


async def get_service(session: SessionDep) -> RegistryService:
    return RegistryService(session)


Service = Annotated[RegistryService, Depends(get_service)]


# -- org units -------------------------------------------------------------------------------------


@router.get("/units", response_model=list[schemas.UnitRead])
async def search_units(service: Service, _: CurrentPrincipal, q: Annotated[SafeStr, Query(min_length=1, max_length=50)],
                       within: Annotated[str | None, Query(min_length=6, max_length=40, pattern=r"^[0-9]+$")] = None,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[schemas.UnitRead]:
    """Finds streets, communities and grids by name."""
    return await service.search(q, within, limit)


@router.post("/units", response_model=schemas.UnitRead, status_code=status.HTTP_201_CREATED)
async def create_unit(body: schemas.UnitCreate, service: Service, principal: CurrentPrincipal) -> schemas.UnitRead:
    """Creates an org unit under its parent."""
    return await service.create_unit(principal, body)


@router.get("/units/{code}", response_model=schemas.UnitWithAncestors)
async def get_unit(code: Code, service: Service, principal: CurrentPrincipal) -> schemas.UnitWithAncestors:
    """Returns a unit with its ancestors."""
    return await service.unit_with_ancestors(principal, code)


@router.get("/units/{code}/children", response_model=list[schemas.UnitRead])
async def unit_children(code: Code, service: Service, principal: CurrentPrincipal,
                        include_retired: bool = False) -> list[schemas.UnitRead]:
    """Returns the children of a unit."""
    return await service.children(principal, code, include_retired)


@router.get("/units/{code}/history", response_model=list[schemas.UnitHistoryRead])
async def unit_history(code: Code, service: Service, principal: CurrentPrincipal) -> list[schemas.UnitHistoryRead]:
    """Returns a unit's renames, moves and retirements."""
    return await service.history(principal, code)


@router.patch("/units/{code}", response_model=schemas.UnitRead)
async def rename_unit(code: Code, body: schemas.UnitRename, service: Service,
                      principal: CurrentPrincipal) -> schemas.UnitRead:
    """Renames a unit."""
    return await service.rename_unit(principal, code, body)


@router.post("/units/{code}/move", response_model=schemas.UnitRead)
async def move_unit(code: Code, body: schemas.UnitMove, service: Service, principal: CurrentPrincipal) -> schemas.UnitRead:
    """Moves a unit under another parent with a new code."""
    return await service.move_unit(principal, code, body)


@router.post("/units/{code}/retire", response_model=schemas.UnitRead)
async def retire_unit(code: Code, body: schemas.UnitRetire, service: Service,
                      principal: CurrentPrincipal) -> schemas.UnitRead:
    """Retires a unit; its code is never issued again."""
    return await service.retire_unit(principal, code, body)


@router.get("/units/{code}/households", response_model=schemas.HouseholdPage)
async def unit_households(code: Code, service: Service, principal: CurrentPrincipal,
                          after: Annotated[SafeStr | None, Query(max_length=40)] = None,
                          limit: Annotated[int, Query(ge=1, le=500)] = 100) -> schemas.HouseholdPage:
    """Returns the households under a unit with their members (personal data masked unless allowed)."""
    return await service.households(principal, code, after, limit)


@router.get("/units/{code}/party-org", response_model=schemas.PartyOrgRead)
async def get_party_org(code: Code, service: Service, principal: CurrentPrincipal) -> schemas.PartyOrgRead:
    """Returns the party organisation bound to a unit, with 六有 for a grid's big branch."""
    return await service.party_org(principal, code)


@router.put("/units/{code}/party-org", response_model=schemas.PartyOrgRead)
async def set_party_org(code: Code, body: schemas.PartyOrgSet, service: Service,
                        principal: CurrentPrincipal) -> schemas.PartyOrgRead:
    """Binds a party organisation to a unit and records its 六有 checklist."""
    return await service.set_party_org(principal, code, body)


@router.get("/coverage", response_model=schemas.CoverageRead)
async def coverage(service: Service, principal: CurrentPrincipal, scope: CodeQuery,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> schemas.CoverageRead:
    """Returns the coverage report of a scope (lists cut to `limit`, counts complete)."""
    return await service.coverage(principal, scope, limit)


# -- people, roles, households ----------------------------------------------------------------------


@router.post("/people", response_model=schemas.PersonRead, status_code=status.HTTP_201_CREATED)
async def create_person(body: schemas.PersonCreate, service: Service, principal: CurrentPrincipal) -> schemas.PersonRead:
    """Registers a person with their personal data (validated, kept apart, never published)."""
    return await service.create_person(principal, body)


@router.get("/people/{person_id}", response_model=schemas.PersonRead)
async def get_person(person_id: UUID, service: Service, principal: CurrentPrincipal) -> schemas.PersonRead:
    """Returns a person (masked unless the caller's role and scope allow)."""
    return await service.person(principal, person_id)


@router.get("/people/{person_id}/roles", response_model=list[schemas.GrantRead])
async def person_roles(person_id: UUID, service: Service, principal: CurrentPrincipal) -> list[schemas.GrantRead]:
    """Returns a person's active roles."""
    return await service.person_roles(principal, person_id)


@router.get("/roles/{role}/holders", response_model=list[schemas.RoleHolder])
async def role_holders(role: Role, service: Service, principal: CurrentPrincipal, scope: CodeQuery,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[schemas.RoleHolder]:
    """Returns the people holding a role within a scope (masked unless the caller may see them)."""
    return await service.role_holders(principal, role, scope, limit)


@router.post("/grants", response_model=schemas.GrantRead, status_code=status.HTTP_201_CREATED)
async def grant_role(body: schemas.GrantCreate, service: Service, principal: CurrentPrincipal) -> schemas.GrantRead:
    """Grants a role at a scope. Each role is granted by the roles above it covering the scope: the grid's staff name
    building and unit heads, representatives and party members; community cadres the grid's staff, community workers,
    mediators, legal advisers, liaisons and part-time members; the street community cadres; the district street staff;
    an administrator district staff and administrators. Nobody grants a role to themselves."""
    return await service.grant_role(principal, body)


@router.post("/grants/{grant_id}/revoke", response_model=schemas.GrantRead)
async def revoke_grant(grant_id: UUID, service: Service, principal: CurrentPrincipal,
                       effective_on: date | None = None) -> schemas.GrantRead:
    """Ends a role; those who may grant it may end it."""
    return await service.revoke_grant(principal, grant_id, effective_on)


@router.put("/households/{code}/representative", response_model=schemas.HouseholdRead)
async def set_representative(code: Code, body: schemas.RepresentativeSet, service: Service,
                             principal: CurrentPrincipal) -> schemas.HouseholdRead:
    """Names a household's representative and recorded proxies (户决制)."""
    return await service.set_representative(principal, code, body)


@router.post("/households/{code}/contacts", status_code=status.HTTP_204_NO_CONTENT)
async def add_contact(code: Code, body: schemas.ContactCreate, service: Service, principal: CurrentPrincipal) -> Response:
    """Links a party member (党员联户) or a visiting cadre to a household."""
    await service.add_contact(principal, code, body)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/departments", response_model=list[schemas.DepartmentRead])
async def departments(service: Service, _: CurrentPrincipal) -> list[schemas.DepartmentRead]:
    """Returns the joint conference's members and their communities (部门包居)."""
    return await service.departments()


@router.put("/departments/{department_code}/assignments", status_code=status.HTTP_204_NO_CONTENT)
async def assign_department(department_code: SafeStr, body: schemas.AssignmentSet, service: Service,
                            principal: CurrentPrincipal) -> Response:
    """Binds a department to a community, or ends the binding."""
    await service.assign_department(principal, department_code, body)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- imports ------------------------------------------------------------------------------------------


@router.get("/imports/{import_id}", response_model=schemas.ImportRead)
async def import_status(import_id: UUID, service: Service, principal: CurrentPrincipal) -> schemas.ImportRead:
    """Returns an import's status and per-row error report."""
    return await service.import_status(principal, import_id)


@router.post("/imports/{kind}", response_model=schemas.ImportRead, status_code=status.HTTP_201_CREATED,
             openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}})
async def upload_import(kind: ImportKind, request: Request, principal: CurrentPrincipal) -> Response:
    """Imports a CSV body (units, households or people), all or nothing: 201 with the import when it succeeded, 422
    problem+json with the per-row error report (row, field, reason) and the import's id when it was refused."""
    districts = sorted({g.scope for g in principal.grants if g.role in IMPORTER_ROLES and len(g.scope) == 6})
    if not districts:
        raise Forbidden("only district staff and administrators import files")
    grants_admin = any(g.role == "admin" and len(g.scope) == 6 for g in principal.grants)
    # The body is spooled to disk as it arrives, then streamed through the importer.
    with tempfile.NamedTemporaryFile(suffix=".csv") as spool:
        async for chunk in request.stream():
            spool.write(chunk)
        spool.flush()
        dsn = asyncpg_dsn(request.app.state.settings.db_url())
        conn = await asyncpg.connect(dsn)
        try:
            result = await importer.import_file(conn, kind, spool.name, source_name=f"upload:{kind}", within=districts,
                                                grants_admin=grants_admin, connect=lambda: asyncpg.connect(dsn))
        finally:
            await conn.close()
    read = schemas.ImportRead(import_id=result.import_id, kind=kind, source_name=f"upload:{kind}", status=result.status,
                              rows_read=result.rows_read, rows_created=result.rows_created,
                              error_count=result.error_count, errors=[e.as_dict() for e in result.errors])
    if read.status != "succeeded":
        # A refused file is bad input: 422 problem+json, with the import's id and its per-row report (row, field,
        # reason), so a script that looks at the status code does not take it for imported.
        report = read.model_dump(mode="json", exclude={"status"})
        return problem(422, "Import refused", f"the file was not imported: {read.error_count} error(s); nothing was "
                       "written", "/problems/import-refused", import_status=read.status, **report)
    return read


# -- internal: the gateway's log-in -------------------------------------------------------------------


async def service_principal(principal: CurrentPrincipal) -> Principal:
    """Dependency: only another service (the gateway) may call the internal endpoints."""
    if principal.kind != "service":
        raise Forbidden("internal endpoint: service tokens only")
    return principal


ServicePrincipal = Annotated[Principal, Depends(service_principal)]


@internal_router.post("/credentials/verify", response_model=schemas.LoginIdentity)
async def verify_credentials(body: schemas.CredentialCheck, service: Service, _: ServicePrincipal) -> schemas.LoginIdentity:
    """Checks a phone number and password; 401 when either is wrong."""
    return await service.verify_credentials(body)


@internal_router.post("/credentials/lookup", response_model=schemas.LoginIdentity)
async def lookup_credentials(body: schemas.CredentialLookup, service: Service,
                             _: ServicePrincipal) -> schemas.LoginIdentity:
    """Finds who a phone number belongs to and their grants (for one-time codes); 404 when nobody."""
    return await service.lookup_credentials(body)


@internal_router.get("/people/{person_id}/grants", response_model=schemas.LoginIdentity)
async def current_grants(person_id: UUID, service: Service, _: ServicePrincipal) -> schemas.LoginIdentity:
    """Returns a person's current grants (for refreshing a log-in); 404 /problems/person-unknown when nobody has
    this id."""
    return await service.login_identity(person_id)


@internal_router.put("/credentials", status_code=status.HTTP_204_NO_CONTENT)
async def set_password(body: schemas.CredentialSet, service: Service, _: ServicePrincipal) -> Response:
    """Sets a person's password (argon2 hash)."""
    await service.set_password(body)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
