"""The pages' two languages: which one a viewer gets, the labels in each, and how numbers and
dates are written in it.

A viewer chooses with ``?lang=en`` or ``?lang=zh-CN`` (remembered in a cookie); without a choice
the browser's ``Accept-Language`` decides, and English is the fallback. Numbers and dates go
through babel for the language's locale (``en_US``, ``zh_Hans_CN``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from babel.dates import format_date, format_time, format_timedelta
from babel.numbers import format_decimal, format_percent

from rapport.api.alert_measure import MeasureFormats

LANGUAGES = ("en", "zh-CN")
LANG_COOKIE = "rapport_lang"
_LOCALES = {"en": "en_US", "zh-CN": "zh_Hans_CN"}

_EN = {
    "portfolio": "Client portfolio",
    "clients_count": "{n} clients",
    "client": "Client",
    "score": "Score",
    "grade": "Grade",
    "coverage": "Coverage",
    "change_7d": "7-day change",
    "change_30d": "30-day change",
    "owner": "Owner",
    "segment": "Segment",
    "no_owner": "Unassigned",
    "as_of": "As of {when}",
    "rules_version": "Rules version",
    "history_90d": "Score over the last 90 days",
    "no_history": "No stored scores in the last 90 days.",
    "components": "What makes up the score",
    "component": "Component",
    "points": "Points",
    "weight": "Weight",
    "contribution": "Contribution",
    "evidence": "Signals behind it",
    "more_events": "and {n} more",
    "limits": "Caps and floors that apply",
    "limit_bound": "sets the score",
    "limit_not_bound": "applies, not binding",
    "alerts": "Recent alerts and silences",
    "alert_value": "value {value}",
    "alert_threshold": "threshold {threshold}",
    "alert_not_sent": "not sent: silenced",
    "never": "never",
    "kind_firing": "firing",
    "kind_repeat": "still firing",
    "kind_resolved": "resolved",
    "kind_silenced": "silenced",
    "explain_json": "Explanation (JSON)",
    "grafana": "Grafana board",
    "back": "All clients",
    "not_found": "Client not found",
    "not_found_text": "There is no client {id}, or you may not see it.",
    "not_scored": "Not yet scored",
    "insufficient_data": "Insufficient data",
    "login": "Sign in",
    "login_text": "Paste an API token with the read scope. The token stays on the server: "
    "your browser keeps only a signed session that ends after 12 hours or when you sign out.",
    "token": "API token",
    "login_failed": "That token was not accepted.",
    "login_no_read": "That token may not read client scores.",
    "validation_link": "How well the scores foresaw outcomes",
    "login_expired": "The sign-in form expired; please try again.",
    "logout": "Sign out",
    "signed_in_as": "Signed in as {name}",
    "language": "中文",
    "status": "Status",
    "chart_label": "Score history of {name}",
}

_ZH = {
    "portfolio": "客户健康度总览",
    "clients_count": "共 {n} 个客户",
    "client": "客户",
    "score": "健康分",
    "grade": "等级",
    "coverage": "数据覆盖率",
    "change_7d": "近7天变化",
    "change_30d": "近30天变化",
    "owner": "负责人",
    "segment": "客户类型",
    "no_owner": "未分配",
    "as_of": "数据截至 {when}",
    "rules_version": "规则版本",
    "history_90d": "近90天健康分走势",
    "no_history": "近90天没有评分记录。",
    "components": "评分构成",
    "component": "评分项",
    "points": "得分",
    "weight": "权重",
    "contribution": "贡献分",
    "evidence": "依据的信号",
    "more_events": "另有 {n} 条",
    "limits": "生效的上限与下限",
    "limit_bound": "决定了最终得分",
    "limit_not_bound": "已生效，未起决定作用",
    "alerts": "近期预警与静默",
    "explain_json": "评分说明（JSON）",
    "grafana": "Grafana 看板",
    "back": "返回客户总览",
    "not_found": "未找到该客户",
    "not_found_text": "客户 {id} 不存在，或您没有查看权限。",
    "not_scored": "尚未评分",
    "alert_value": "当前值 {value}",
    "alert_threshold": "阈值 {threshold}",
    "alert_not_sent": "未发送：已静默",
    "never": "从未成功",
    "kind_firing": "已触发",
    "kind_repeat": "仍未解除",
    "kind_resolved": "已解除",
    "kind_silenced": "已静默",
    "insufficient_data": "数据不足",
    "login": "登录",
    "login_text": "请粘贴具有读取权限的 API 令牌。令牌只在服务器端校验，浏览器仅保存一个签名会话，"
    "12 小时后或退出登录时失效。",
    "token": "API 令牌",
    "login_failed": "令牌无效，请检查后重试。",
    "login_no_read": "该令牌没有查看客户评分的权限。",
    "validation_link": "评分对客户结果的预见程度",
    "login_expired": "登录表单已过期，请重新提交。",
    "logout": "退出登录",
    "signed_in_as": "当前用户：{name}",
    "language": "English",
    "status": "状态",
    "chart_label": "{name}的健康分走势",
}

#: Grade names of the default scorecard in business Chinese (the same words as the alert emails);
#: a grade a scorecard adds keeps its own name.
_ZH_GRADES = {
    "healthy": "健康",
    "watch": "需关注",
    "at_risk": "有风险",
    "critical": "高风险",
    "insufficient_data": "数据不足",
}


def choose_language(query: str | None, cookie: str | None, accept: str | None) -> str:
    """The viewer's language: an explicit ``?lang=``, then the cookie, then Accept-Language."""
    for given in (query, cookie):
        if given in LANGUAGES:
            return given
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().casefold()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return "en"


@dataclass(frozen=True)
class Texts:
    """Labels and formatters for one language, as the templates call them (``t("score")``)."""

    lang: str

    def __call__(self, key: str, **values: object) -> str:
        table = _ZH if self.lang == "zh-CN" else _EN
        return table[key].format(**values)

    @property
    def other(self) -> str:
        """The language the switch link offers."""
        return "en" if self.lang == "zh-CN" else "zh-CN"

    def grade(self, name: str | None) -> str:
        if name is None:
            return self("not_scored")
        if self.lang == "zh-CN":
            return _ZH_GRADES.get(name, name)
        return self("insufficient_data") if name == "insufficient_data" else name.replace("_", " ")

    def number(self, value: float | None, digits: int = 1) -> str:
        if value is None:
            return "–"
        return format_decimal(round(value, digits), locale=_LOCALES[self.lang])

    def signed(self, value: float | None) -> str:
        """A change with its sign, as shown (one decimal): a change that rounds to 0 is "0"."""
        if value is None:
            return "–"
        shown = round(value, 1) + 0.0  # + 0.0 turns -0.0 into 0.0
        return ("+" if shown > 0 else "") + self.number(shown)

    def trend(self, value: float | None) -> str:
        """``up``, ``down`` or ``""`` for a change as ``signed`` shows it."""
        shown = round(value, 1) if value is not None else 0.0
        return "up" if shown > 0 else ("down" if shown < 0 else "")

    def percent(self, share: float | None) -> str:
        return "–" if share is None else format_percent(share, locale=_LOCALES[self.lang])

    def measure_formats(self, locale: str | None = None) -> MeasureFormats:
        """How an alert's value and threshold read in this language (``locale`` for the
        numbers, e.g. a recipient's own; default this language's)."""
        babel = locale or _LOCALES[self.lang]
        return MeasureFormats(
            number=lambda v: format_decimal(round(v, 1), locale=babel),
            percent=lambda share: format_percent(share, locale=babel),
            duration=lambda span: format_timedelta(span, locale=babel),
            grade=self.grade,
            never=self("never"),
        )

    def date(self, moment: datetime) -> str:
        return format_date(moment, "medium", locale=_LOCALES[self.lang])

    def when(self, moment: datetime) -> str:
        """Date and minute in UTC, the zone every stored time is in (said, not assumed)."""
        utc = moment.astimezone(UTC)
        return f"{self.date(utc)} {format_time(utc, 'HH:mm', locale=_LOCALES[self.lang])} UTC"
