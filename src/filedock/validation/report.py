"""The validation report: verdict, capped errors and warnings with line numbers, statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# How many problems `status_details` spells out before "N more errors".
SUMMARY_ERRORS = 3


@dataclass(frozen=True)
class Issue:
    """One problem: where (1-based physical line, JSON field path) and what (code, message)."""

    code: str
    message: str
    line: int | None = None
    path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "path": self.path, "code": self.code, "message": self.message}

    def describe(self) -> str:
        if self.line is not None:
            return f"Line {self.line}: {self.message}"
        return self.message[:1].upper() + self.message[1:]


@dataclass
class Report:
    """What a validator found. Errors and warnings are kept up to `max_issues`; counts are exact."""

    purpose: str
    max_issues: int = 100
    format: str | None = None
    errors: list[Issue] = field(default_factory=list)
    error_count: int = 0
    warnings: list[Issue] = field(default_factory=list)
    warning_count: int = 0
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.error_count == 0

    def error(
        self, code: str, message: str, line: int | None = None, path: str | None = None
    ) -> None:
        self.error_count += 1
        self._list(self.errors, Issue(code, message, line, path))

    def warning(
        self, code: str, message: str, line: int | None = None, path: str | None = None
    ) -> None:
        self.warning_count += 1
        self._list(self.warnings, Issue(code, message, line, path))

    def too_many(
        self,
        code: str,
        counted: str,
        limit: int,
        line: int | None = None,
        path: str | None = None,
        *,
        holder: str = "the file",
    ) -> None:
        """An error for a count that went past its limit: "the file has more than 10 images"."""
        self.error(code, f"{holder} has more than {limit} {counted}", line, path)

    def _list(self, issues: list[Issue], issue: Issue) -> None:
        """Every issue is counted; only the first `max_issues` of each kind are listed."""
        if len(issues) < self.max_issues:
            issues.append(issue)

    def sort(self) -> None:
        """Put the listed problems in line order (whole-file ones last)."""
        for issues in (self.errors, self.warnings):
            issues.sort(key=lambda i: (i.line is None, i.line or 0))

    def status_details(self) -> str | None:
        """The short human summary stored on the File (`status_details`); None when valid."""
        if self.valid:
            return None
        shown = self.errors[:SUMMARY_ERRORS]
        text = "Invalid file format. " + " ".join(_sentence(i.describe()) for i in shown)
        rest = self.error_count - len(shown)
        if rest > 0:
            text += f" {rest} more error{'s' if rest > 1 else ''}."
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "object": "file.report",
            "purpose": self.purpose,
            "verdict": "valid" if self.valid else "invalid",
            "format": self.format,
            "errors": [i.to_json() for i in self.errors],
            "error_count": self.error_count,
            "warnings": [i.to_json() for i in self.warnings],
            "warning_count": self.warning_count,
            "stats": self.stats,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        def issues(items: list[dict[str, Any]]) -> list[Issue]:
            return [Issue(i["code"], i["message"], i.get("line"), i.get("path")) for i in items]

        return cls(
            purpose=data["purpose"],
            format=data.get("format"),
            errors=issues(data.get("errors", [])),
            error_count=data.get("error_count", 0),
            warnings=issues(data.get("warnings", [])),
            warning_count=data.get("warning_count", 0),
            stats=data.get("stats", {}),
        )

    def to_text(self) -> str:
        """The readable form the CLI prints."""
        lines = [
            f"purpose: {self.purpose}" + (f" (format: {self.format})" if self.format else ""),
            f"verdict: {'valid' if self.valid else 'invalid'}",
        ]
        for key, value in self.stats.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k} {v}" for k, v in value.items())
            lines.append(f"{key}: {value}")
        for title, shown, count in (
            ("errors", self.errors, self.error_count),
            ("warnings", self.warnings, self.warning_count),
        ):
            if not count:
                continue
            lines.append(
                f"{title} ({count}{', first ' + str(len(shown)) if count > len(shown) else ''}):"
            )
            for issue in shown:
                path = f" [{issue.path}]" if issue.path else ""
                lines.append(f"  {issue.describe()}{path} ({issue.code})")
        return "\n".join(lines)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."
