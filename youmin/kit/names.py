"""Finds people's names typed into free text (minutes, notes, titles) so they can be masked to the surname.

The disclosure service never learns residents' names from the bus, so names in free text are found by
context: a common surname plus one or two characters, right after a cue that introduces a person
("经办人", "我是", "居民", "低保对象") or right before one that follows a person ("同志", "家", "参加", "劳务费"),
and every name of an enumeration that such a cue starts ("参会人员：王建国、李秀英") or ends ("王建国、李秀英参加"). Masking a little more than
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
    "反映人", "投诉人", "来电人", "求助人",
    # Who is paid or helped, in finance and residents' affairs: "支付给李明保洁费", "低保对象：王建国、李秀英".
    "付给", "发给", "受助人", "对象", "低保户", "困难户", "五保户", "人员", "名单",
)
AFTER_CUES = (
    "同志", "先生", "女士", "老人", "大爷", "大妈", "阿姨", "家", "户", "等人", "等", "主持", "记录", "发言", "参加",
    "出席", "列席", "反映", "提出", "报销", "签字", "领取", "负责", "表示", "认为", "说", "同意", "反对", "弃权",
    # What a person is paid: "付张三劳务费", "困难户周建华慰问金500元".
    "劳务费", "工资", "报酬", "慰问金", "补助金", "补助款", "补贴款",
)

_HAN = r"[\u4e00-\u9fff]"
_SURNAME = "(?:" + "|".join(sorted(COMPOUND_SURNAMES, key=len, reverse=True)) + f"|[{COMMON_SURNAMES}])"
_NAME = f"{_SURNAME}{_HAN}{{1,2}}"
_BEFORE = re.compile("(?:" + "|".join(map(re.escape, BEFORE_CUES)) + r")[：:\s]*(" + _NAME + ")")
# A minutes header that lists people after a colon: "出席：张伟、李娜", "主持：张伟", "记录人：李娜" (without the
# colon these words follow a name instead: "张伟主持").
HEADER_CUES = ("出席", "列席", "缺席", "请假", "到会", "参会", "参加", "主持", "记录", "签名", "签字", "审批", "经手",
               "发言", "汇报", "陪同", "走访")
_HEADER = re.compile("(?:" + "|".join(map(re.escape, HEADER_CUES)) + r")(?:人员|人|者)?[：:]\s*(" + _NAME + ")")
# A payee after 向, when a payment follows: "向刘洋支付租金" (向 alone introduces far more than people).
_PAID_TO = re.compile(f"向({_NAME})(?=支付|付款|转账|发放)")
_AFTER = re.compile("|".join(map(re.escape, sorted(AFTER_CUES, key=len, reverse=True))))
_NAME_FULL = re.compile(f"{_NAME}")
# What separates the names of an enumeration ("王建国、李秀英", "王建国 李秀英").
_SEPARATORS = frozenset("、，,；;和与及 \u3000")
# What may end the last name of an enumeration.
_CLOSERS = _SEPARATORS | frozenset("。．.！!？?：:）)」》\n")


def _is_name(text: str, start: int, end: int) -> bool:
    return start >= 0 and _NAME_FULL.fullmatch(text, start, end) is not None


def _name_before(text: str, end: int) -> int | None:
    """The start of the longest name that ends at `end`, if one does; not one that starts with a separator that is a
    surname too ("张三和李四参加": 李四, then 张三 before the 和). If each starts with one, the one that a separator
    precedes ("王芳和和平参加": 和平, then 王芳)."""
    starts = [end - n for n in (4, 3, 2) if _is_name(text, end - n, end)]
    return next((start for start in starts if text[start] not in _SEPARATORS),
                next((start for start in starts if start > 0 and text[start - 1] in _SEPARATORS),
                     starts[0] if starts else None))


def _name_after(text: str, start: int) -> int | None:
    """The end of the name of an enumeration that starts at `start`, if one does: one that the text's end, a separator,
    a sentence's end or a cue that follows names ("赵敏等") follows. Prose after a comma is no name ("李秀英，管道已疏通")."""
    ends = [_short_of_cue(text, start, start + n) for n in (4, 3, 2)
            if start + n <= len(text) and _is_name(text, start, start + n)]
    return next((end for end in ends if end == len(text) or text[end] in _CLOSERS or text.startswith(AFTER_CUES, end)),
                None)


def _short_of_cue(text: str, start: int, end: int) -> int:
    """The end of a three-character name whose third character starts a cue that follows names ("网格员刘洋负责":
    刘洋) or joins names ("居民张伟和李娜反映": 张伟) is that character's place; otherwise `end`."""
    if end - start == 3 and text[start:start + 2] not in COMPOUND_SURNAMES and (
            text.startswith(AFTER_CUES, end - 1) or text[end - 1] in _SEPARATORS):
        return end - 1
    return end


def names_in_text(text: str) -> set[str]:
    """Returns the likely personal names in a text, found by their context: after a cue that introduces a person (and
    the rest of an enumeration it starts), before one that follows a person (and the rest of an enumeration it ends).

    Linear in the text's length: each name of an enumeration is read once, however many cues point at it (a pattern
    matching enumerations from every position took seconds on a long roster)."""
    found: set[str] = set()
    seen: set[int] = set()  # the ends of the names read
    for m in (*_BEFORE.finditer(text), *_HEADER.finditer(text), *_PAID_TO.finditer(text)):
        start = m.start(1)
        end = _short_of_cue(text, start, m.end(1))
        # Forwards through the enumeration it starts: "低保对象：王建国、李秀英、赵敏等".
        while end not in seen:
            seen.add(end)
            found.add(text[start:end])
            if end >= len(text) or text[end] not in _SEPARATORS:
                break
            start = end + 1
            following = _name_after(text, start)
            if following is None:
                break
            end = following
    for cue in _AFTER.finditer(text):
        # Backwards through the enumeration it ends: "王建国、李秀英参加".
        end = cue.start()
        while end not in seen:
            start = _name_before(text, end)
            if start is None:
                break
            seen.add(end)
            found.add(text[start:end])
            if start == 0 or text[start - 1] not in _SEPARATORS:
                break
            end = start - 1
    return found


def masked_free_text(text: str) -> str:
    """Free text as the public (or another resident) reads it: phone, ID and e-mail masked, home addresses removed,
    and the names it is likely to carry (names_in_text) masked to the surname."""
    from youmin.kit.pii import redact_text

    return redact_text(text, known_names=names_in_text(text))


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
