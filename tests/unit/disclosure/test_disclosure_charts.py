"""The portal's charts: inline SVG whose figures a screen reader can read (role="img" hides the drawn text)."""

from services.disclosure.charts import bar_chart, stacked_chart


def test_a_bar_chart_says_its_figures_in_its_label():
    svg = bar_chart([("已决定", 3), ("实施中", 1)], title="议事事项阶段分布")
    assert 'aria-label="议事事项阶段分布：已决定 3，实施中 1"' in svg


def test_a_stacked_chart_says_each_groups_figures_and_an_empty_one_says_so():
    svg = stacked_chart([("网格", [("agreement_reached", 2), ("terminated", 0)]), ("社区", [("terminated", 1)])],
                        [("agreement_reached", "调解成功"), ("terminated", "终止")], title="调解结果")
    assert 'aria-label="调解结果：网格 调解成功 2；社区 终止 1"' in svg
    assert "暂无数据" in stacked_chart([], [("terminated", "终止")], title="调解结果")
