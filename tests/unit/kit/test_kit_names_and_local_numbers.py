"""Names found in free text by their context, and local landline numbers found by the word before them."""

import pytest

from youmin.kit.names import names_in_text
from youmin.kit.pii import redact_text


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("我叫王建国，家住三号楼", {"王建国"}),
        ("一位名叫刘洋，住在五号楼", {"刘洋"}),
        ("如有疑问请留下联系方式，投票方式另行通知", set()),  # 方 is a surname too: 联系 is no cue
        ("网格员李秀英负责", {"李秀英"}),
        ("王建国、李秀英参加", {"王建国", "李秀英"}),
        ("联系电话13912345678", set()),  # 电 is no surname: "联系" before a number names nobody
        ("楼道灯不亮", set()),
        # Payees and beneficiaries, as finance and residents' affairs name them.
        ("支付给李明保洁费2000元", {"李明保"}),  # masking a character more than the name is acceptable
        ("困难户周建华慰问金500元", {"周建华"}),
        ("向刘洋支付租金", {"刘洋"}),
        ("低保对象：王建国、李秀英", {"王建国", "李秀英"}),
        ("新增低保户：王建国，李秀英，赵敏", {"王建国", "李秀英", "赵敏"}),
        ("参会人员：王建国 李秀英 赵敏等", {"王建国", "李秀英", "赵敏"}),
        ("党费收缴情况", set()),
        ("已电话联系反映人李秀英，管道已疏通", {"李秀英"}),
        ("张三和李四参加", {"张三", "李四"}),  # 和 joins names, and is a surname too
        ("王芳、李娜和张伟参加", {"王芳", "李娜", "张伟"}),
        ("居民张伟和李娜反映", {"张伟", "李娜"}),
        ("王芳和和平参加", {"王芳", "和平"}),  # a name after 和 whose surname is 和
        ("王芳与和平参加", {"王芳", "和平"}),
    ],
)
def test_names_are_found_by_the_words_around_them(text, names):
    assert names_in_text(text) == names


def test_every_name_of_a_long_roster_is_found():
    given = [a + b for a in "建秀明华国英" for b in "伟芳娜敏静丽强磊军洋"]
    roster = [surname + given[n % len(given)] for n, surname in enumerate("王李张刘陈杨黄赵吴周徐孙马朱胡郭" * 40)]
    assert names_in_text("参会人员：" + "、".join(roster) + "。") == set(roster)
    assert names_in_text("、".join(roster) + "参加了会议") == set(roster)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电话8123456", "电话*****56"),
        ("电话８１２３４５６", "电话*****56"),  # full-width digits
        ("座机：81234567，白天有人", "座机：******67，白天有人"),
        ("联系方式 5123456。", "联系方式 *****56。"),
        ("电话：8123-4567", "电话：*******67"),
        ("座机 0536-8123456", "座机 053****3456"),  # with its area code it is a landline anyway
        ("热线12345", "热线12345"),  # a five-digit service line is no one's number
        ("3号楼共8123456元预算", "3号楼共8123456元预算"),  # a number without the word before it stays
    ],
)
def test_a_local_number_after_a_phone_word_is_masked_and_the_word_kept(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize(("text", "names"), [
    ("出席：张伟、李娜、王芳", {"张伟", "李娜", "王芳"}), ("主持：张伟\n记录：李娜", {"张伟", "李娜"}),
    ("列席：赵敏", {"赵敏"}), ("参会人员：王建国、李秀英", {"王建国", "李秀英"}), ("签名：王芳", {"王芳"}),
    ("审批：王建国", {"王建国"}), ("记录人：李娜。", {"李娜"}),
])
def test_the_people_a_minutes_header_lists_after_a_colon_are_names(text: str, names: set[str]) -> None:
    assert names_in_text(text) == names


@pytest.mark.parametrize("text", ["出席会议的有十二人", "会议记录：详见附件", "参加：社区全体工作人员"])
def test_a_header_word_before_no_name_finds_none(text: str) -> None:
    assert names_in_text(text) == set()
