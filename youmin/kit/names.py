"""Finds people's names typed into free text (minutes, notes, titles) so they can be masked to the surname.

The disclosure service never learns residents' names from the bus, so names in free text are found by
context: a common surname plus one or two characters, right after a cue that introduces a person
("经办人", "我是", "居民") or right before one that follows a person ("同志", "家", "参加", "反映"),
and every name of an enumeration ("王建国、李秀英参加") ending in such a cue. Masking a little more than
needed is acceptable on a public notice; showing a full name is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from youmin.kit.pii import COMPOUND_SURNAMES

# The most common single-character surnames (百家姓 by frequency), enough to cover most residents.
COMMON_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜"
    "崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文"
    "牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲"
    "翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫"
    "米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)

BEFORE_CUES = (
    "我是", "本人", "经办人", "报销人", "联系人", "负责人", "申请人", "主持人", "记录人", "发言人", "举报人",
    "当事人", "调解员", "户主", "业主", "居民", "村民", "网格员", "网格长", "楼长", "单元长", "党员", "书记",
    "主任", "委员", "代表", "老人", "同志", "签字人", "领款人", "收款人", "审核人", "监督员", "志愿者",
    "我叫", "名叫",  # not 联系: "联系方式" would make 方式 a name
)
AFTER_CUES = (
    "同志", "先生", "女士", "老人", "大爷", "大妈", "阿姨", "家", "户", "等人", "等", "主持", "记录", "发言", "参加",
    "出席", "列席", "反映", "提出", "报销", "签字", "领取", "负责", "表示", "认为", "说", "同意", "反对", "弃权",
)

_HAN = r"[\u4e00-\u9fff]"
_SURNAME = "(?:" + "|".join(sorted(COMPOUND_SURNAMES, key=len, reverse=True)) + f"|[{COMMON_SURNAMES}])"
_NAME = f"{_SURNAME}{_HAN}{{1,2}}"
_NAME_SHORT = f"{_SURNAME}{_HAN}{{1,2}}?"
_BEFORE = re.compile("(?:" + "|".join(map(re.escape, BEFORE_CUES)) + r")[：:\s]*(" + _NAME + ")")
_AFTER_ALT = "|".join(map(re.escape, sorted(AFTER_CUES, key=len, reverse=True)))
# An enumeration of names ("王建国、李秀英") closed by an after-cue.
_LIST_AFTER = re.compile(f"((?:{_NAME_SHORT}[、，,和与及])*{_NAME_SHORT})(?={_AFTER_ALT})")
_SPLIT = re.compile("[、，,和与及]")
_NAME_FULL = re.compile(f"^{_NAME}$")


def names_in_text(text: str) -> set[str]:
    """Returns the likely personal names in a text, found by their context."""
    found: set[str] = set()
    for m in _BEFORE.finditer(text):
        name = m.group(1)
        # "网格员刘洋负责": the third character starts a cue that follows the name, so the name is 刘洋.
        if len(name) == 3 and name[:2] not in COMPOUND_SURNAMES and text.startswith(AFTER_CUES, m.start(1) + 2):
            name = name[:2]
        found.add(name)
    for m in _LIST_AFTER.finditer(text):
        for part in _SPLIT.split(m.group(1)):
            if _NAME_FULL.match(part):
                found.add(part)
    return found


def names_in_content(content: Any) -> set[str]:
    """Returns the likely personal names in every string of a JSON-like structure."""
    found: set[str] = set()
    if isinstance(content, str):
        found |= names_in_text(content)
    elif isinstance(content, Mapping):
        for value in content.values():
            found |= names_in_content(value)
    elif isinstance(content, (list, tuple)):
        for value in content:
            found |= names_in_content(value)
    return found


def with_detected(content: Any, known: Iterable[str] = ()) -> set[str]:
    """Returns the known names plus those detected in the content."""
    return {n.strip() for n in known if n and n.strip()} | names_in_content(content)
