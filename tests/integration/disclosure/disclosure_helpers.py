"""Helpers shared by the disclosure integration tests."""

from __future__ import annotations

import random

# Personal data planted in the free text of test posts; the scan fails if any reaches a public body.
PLANTED_NAMES = ("王建国", "李秀英", "欧阳明华", "张伟")
PLANTED_PHONES = ("13812345678", "0536-8123456")
PLANTED_ID = "370705198001011234"
# Home addresses, health data and minors' data planted in free text: none of these may reach a public body.
PLANTED_ADDRESSES = ("123号5号楼2单元301室", "3号楼2单元502", "东风东街88号")
PLANTED_HEALTH = ("抑郁症", "糖尿病", "住院")
PLANTED_MINORS = ("12岁", "未成年")


def new_community() -> str:
    """Returns a fresh community code (street 060–099, community 100–999; streets 013–059 are for org-tree and browser tests)."""
    return f"370705{random.randint(60, 99):03d}{random.randint(100, 999):03d}"


def new_street(low: int, high: int) -> str:
    """Returns a random street code in a range of street segments."""
    return f"370705{random.randint(low, high):03d}"
