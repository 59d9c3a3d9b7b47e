"""Scratch: a resident and a grid manager on the phone, end to end through the gateway."""
from __future__ import annotations

import json
import random
import uuid
from datetime import date, timedelta

import httpx
from sqlalchemy import text

from youmin.kit.auth import mint_token
from youmin.kit.db import make_engine
from youmin.kit.pii import id_check_char
from youmin.testing import eventually

OUT = []


def log(label, resp):
    try:
        body = resp.json()
    except Exception:
        body = resp.text[:400]
    OUT.append(f"### {label}: {resp.request.method} {resp.request.url.path}?{resp.request.url.query.decode() if isinstance(resp.request.url.query, bytes) else resp.request.url.query} -> {resp.status_code}\n{json.dumps(body, ensure_ascii=False, default=str)[:1500]}")
    return resp


def _idn():
    first17 = "370705" + f"{random.randint(1960, 2000)}0{random.randint(1, 9)}1{random.randint(0, 9)}" + \
        "".join(random.choice("0123456789") for _ in range(3))
    return first17 + id_check_char(first17)


def _phone():
    return "139" + "".join(random.choice("0123456789") for _ in range(8))


async def test_phone_story(stack, infra):
    admin = stack.client(stack.token("admin", "370705", sub="scratch-admin"))
    street = f"370705{random.randint(20, 99):03d}"
    community = f"{street}{random.randint(1, 199):03d}"
    grid = community + "001"
    building = grid + "001"
    unit = building + "01"
    hh = [unit + f"{n:04d}" for n in (1, 2, 3)]
    async with admin:
        for code, name in [("370705", "奎文区"), (street, "测试街道"), (community, "测试社区"), (grid, "一网格"),
                           (building, "1号楼"), (unit, "1单元"), *[(h, f"{h[-4:]}户") for h in hh]]:
            r = await admin.post("/api/v1/registry/units", json={"code": code, "name": name, "effective_on": "2020-01-01"})
            assert r.status_code in (201, 422), r.text
        r = await admin.put(f"/api/v1/matters/templates/communities/{community}", json={"template_code": "nanhu-household-decision"})
        log("admin chooses template", r)
        people = {}
        for key, household in [("A", hh[0]), ("B", hh[0]), ("C", hh[1]), ("D", hh[2]), ("G", None)]:
            phone = _phone()
            body = {"name": {"A": "张三", "B": "李四", "C": "王五", "D": "赵六", "G": "孙网格"}[key], "id_number": _idn(), "phone": phone}
            if household:
                body["household_code"] = household
            r = await admin.post("/api/v1/registry/people", json=body)
            assert r.status_code == 201, r.text
            people[key] = (r.json()["person_id"], phone)
        r = log("grant grid manager", await admin.post("/api/v1/registry/grants", json={"person_id": people["G"][0], "role": "grid_manager", "scope_code": grid}))
        r = log("rep h1", await admin.put(f"/api/v1/registry/households/{hh[0]}/representative", json={"representative_person_id": people["A"][0], "proxy_person_ids": []}))
        r = log("rep h2 with A as proxy", await admin.put(f"/api/v1/registry/households/{hh[1]}/representative", json={"representative_person_id": people["C"][0], "proxy_person_ids": [people["A"][0]]}))
    service = mint_token(stack.settings, "gateway", [], kind="service")
    async with httpx.AsyncClient(base_url=stack.service_urls["registry"], headers={"authorization": f"Bearer {service}"}) as reg:
        for k in "ABCDG":
            r = await reg.put("/internal/v1/registry/credentials", json={"person_id": people[k][0], "password": "pw-" + k + "-123456"})
            assert r.status_code == 204
    tokens = {}
    async with stack.client() as anon:
        for k in "ABCD":
            r = await anon.post("/auth/login", json={"phone": people[k][1], "password": "pw-" + k + "-123456"})
            assert r.status_code == 200, r.text
            tokens[k] = r.json()["access_token"]
        log("login A", r)
        r = log("otp request G", await anon.post("/auth/otp/request", json={"phone": people["G"][1]}))
        code = stack.gateway_app.state.sms_sender.last_code(people["G"][1])
        r = log("otp verify G", await anon.post("/auth/otp/verify", json={"phone": people["G"][1], "code": code}))
        tokens["G"] = r.json()["access_token"]
        # bad login inputs
        log("login bad body", await anon.post("/auth/login", json={"phone": "abc"}))
        log("login +86 phone", await anon.post("/auth/login", json={"phone": "+86" + people["A"][1], "password": "pw-A-123456"}))
    from youmin.kit.auth import decode_token
    OUT.append("grants A: " + repr(decode_token(stack.settings, tokens["A"]).grants))
    OUT.append("grants G: " + repr(decode_token(stack.settings, tokens["G"]).grants))
    # wait for the replica
    engine = make_engine(infra.database_url("matters"), pool_size=1)

    async def replicated():
        async with engine.connect() as conn:
            n = await conn.scalar(text("SELECT count(*) FROM replica_resident WHERE household_code LIKE :p"), {"p": community + "%"})
            m = await conn.scalar(text("SELECT count(*) FROM replica_household WHERE household_code LIKE :p AND representative_person_id IS NOT NULL"), {"p": community + "%"})
            u = await conn.scalar(text("SELECT count(*) FROM replica_unit WHERE code LIKE :p"), {"p": community + "%"})
            return n == 4 and m == 2 and u >= 7
    await eventually(replicated, timeout=60)
    await engine.dispose()
    A, B, C, D, G = (stack.client(tokens[k]) for k in "ABCDG")
    staff = stack.client(stack.token("community_staff", community, sub="scratch-staff"))
    async with A, B, C, D, G, staff:
        # resident raises a matter about their building
        r = log("A raises at building", await A.post("/api/v1/matters/", json={"title": "1号楼楼道灯坏了", "description": "三楼楼道灯一直不亮，晚上很黑", "category": "property_management", "unit_code": building}))
        if r.status_code != 201:
            r = log("A raises (no unit)", await A.post("/api/v1/matters/", json={"title": "1号楼楼道灯坏了", "description": "三楼楼道灯一直不亮", "category": "property_management"}))
        matter = r.json()
        mid = matter["matter_id"]
        log("A bad category", await A.post("/api/v1/matters/", json={"title": "x", "description": "y", "category": "nope"}))
        log("A household unit_code", await A.post("/api/v1/matters/", json={"title": "x", "description": "y", "category": "property_management", "unit_code": hh[0]}))
        log("A list", await A.get("/api/v1/matters/", params={"limit": 5}))
        log("A detail", await A.get(f"/api/v1/matters/{mid}"))
        log("D detail (neighbour)", await D.get(f"/api/v1/matters/{mid}"))
        log("A withdraw wrong action name", await A.post(f"/api/v1/matters/{mid}/transitions", json={"action": "accept"}))
        # grid manager sees their grid
        log("G list", await G.get("/api/v1/matters/", params={"limit": 5}))
        log("G households", await G.get(f"/api/v1/registry/units/{grid}/households"))
        log("G accept", await G.post(f"/api/v1/matters/{mid}/transitions", json={"action": "accept"}))
        log("G raises face to face", await G.post("/api/v1/matters/", json={"title": "2号楼门口垃圾堆积", "description": "居民当面反映", "category": "property_management", "unit_code": building}))
        log("G stats", await G.get("/api/v1/matters/stats"))
        # staff accepts and routes
        log("staff accept", await staff.post(f"/api/v1/matters/{mid}/transitions", json={"action": "accept"}))
        log("route proposal", await A.get(f"/api/v1/matters/{mid}/route-proposal"))
        log("staff route", await staff.post(f"/api/v1/matters/{mid}/transitions", json={"action": "route"}))
        r = log("G open vote", await G.post(f"/api/v1/matters/{mid}/votes", json={}))
        closes = (date.today() + timedelta(days=3)).isoformat() + "T18:00:00+08:00"
        r = log("staff open vote", await staff.post(f"/api/v1/matters/{mid}/votes", json={"closes_at": closes}))
        vote = r.json()
        vid = vote.get("vote_id")
        log("A detail after vote open", await A.get(f"/api/v1/matters/{mid}"))
        log("A reads vote", await A.get(f"/api/v1/matters/votes/{vid}"))
        log("A casts no household", await A.post(f"/api/v1/matters/votes/{vid}/ballots", json={"choice": "for"}))
        r = log("A casts h1", await A.post(f"/api/v1/matters/votes/{vid}/ballots", json={"choice": "for", "household_code": hh[0]}))
        log("A receipt", await A.get(f"/api/v1/matters/votes/{vid}/receipts/{r.json().get('receipt', 'xxxxxxxxxx')}"))
        log("A casts h2 as proxy", await A.post(f"/api/v1/matters/votes/{vid}/ballots", json={"choice": "for", "household_code": hh[1]}))
        log("C casts h2 again", await C.post(f"/api/v1/matters/votes/{vid}/ballots", json={"choice": "against"}))
        log("B (member, not rep) casts", await B.post(f"/api/v1/matters/votes/{vid}/ballots", json={"choice": "for"}))
        log("D (adult, household without rep) casts", await D.post(f"/api/v1/matters/votes/{vid}/ballots", json={"choice": "for"}))
        log("A bad choice", await A.post(f"/api/v1/matters/votes/{vid}/ballots", json={"choice": "yes"}))
        log("A reads vote after", await A.get(f"/api/v1/matters/votes/{vid}"))
        log("staff close early", await staff.post(f"/api/v1/matters/votes/{vid}/close"))
    with open("/tmp/scratch_phone_out.txt", "w") as f:
        f.write("\n".join(OUT))
