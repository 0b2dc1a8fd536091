"""Text tools: all read-only and computed locally."""

from __future__ import annotations

import ast
import difflib
import json
import operator
import re
from collections import Counter
from typing import ClassVar

from pydantic import Field

from core.stopwords import ENGLISH_STOP_WORDS
from tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult, recorded

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _keywords(text: str, limit: int) -> list[str]:
    words = [w.lower() for w in _WORD.findall(text) if w.lower() not in ENGLISH_STOP_WORDS]
    return [word for word, _ in Counter(words).most_common(limit)]


class SummarizeArgs(ToolArgs):
    text: str = Field(min_length=1, max_length=100_000)
    sentences: int = Field(3, ge=1, le=20)


class SummarizeText(Tool):
    name = "summarize_text"
    description = "Extractive summary: the sentences that carry the text's most frequent words."
    Args: ClassVar = SummarizeArgs

    def run(self, args: SummarizeArgs, context: ToolContext) -> ToolResult:
        sentences = [s for s in _SENTENCE.split(args.text.strip()) if s]
        weights = Counter(
            w.lower() for w in _WORD.findall(args.text) if w.lower() not in ENGLISH_STOP_WORDS
        )
        ranked = sorted(
            range(len(sentences)),
            key=lambda i: (
                -sum(weights[w.lower()] for w in _WORD.findall(sentences[i]))
                / (1 + len(_WORD.findall(sentences[i])))
            ),
        )
        keep = sorted(ranked[: args.sentences])
        return ToolResult(output=" ".join(sentences[i] for i in keep))


class KeywordsArgs(ToolArgs):
    text: str = Field(min_length=1, max_length=100_000)
    limit: int = Field(8, ge=1, le=50)


class ExtractKeywords(Tool):
    name = "extract_keywords"
    description = "The most frequent content words of a text."
    Args: ClassVar = KeywordsArgs

    def run(self, args: KeywordsArgs, context: ToolContext) -> ToolResult:
        return ToolResult(output=_keywords(args.text, args.limit))


class CompareArgs(ToolArgs):
    before: str = Field(max_length=100_000)
    after: str = Field(max_length=100_000)


class CompareTexts(Tool):
    name = "compare_texts"
    description = "A unified diff of two texts and their similarity ratio."
    Args: ClassVar = CompareArgs

    def run(self, args: CompareArgs, context: ToolContext) -> ToolResult:
        diff = "\n".join(
            difflib.unified_diff(
                args.before.splitlines(), args.after.splitlines(), "before", "after", lineterm=""
            )
        )
        ratio = difflib.SequenceMatcher(None, args.before, args.after).ratio()
        return ToolResult(output={"diff": diff, "similarity": round(ratio, 4)})


class CountArgs(ToolArgs):
    text: str = Field(max_length=1_000_000)


class CountWords(Tool):
    name = "count_words"
    description = "Counts of words, characters, sentences and lines in a text."
    Args: ClassVar = CountArgs

    def run(self, args: CountArgs, context: ToolContext) -> ToolResult:
        text = args.text
        return ToolResult(
            output={
                "words": len(text.split()),
                "characters": len(text),
                "sentences": len([s for s in _SENTENCE.split(text.strip()) if s]),
                "lines": len(text.splitlines()),
            }
        )


class TranslateArgs(ToolArgs):
    text: str = Field(min_length=1, max_length=20_000)
    target_language: str = Field(min_length=2, max_length=35, description="e.g. 'fr' or 'French'")


class TranslateText(Tool):
    name = "translate_text"
    description = "Translate text into another language (needs a translation backend)."
    Args: ClassVar = TranslateArgs

    def run(self, args: TranslateArgs, context: ToolContext) -> ToolResult:
        return recorded(f"translate {len(args.text)} characters to {args.target_language}", args)


class RegexArgs(ToolArgs):
    pattern: str = Field(min_length=1, max_length=1000)
    text: str = Field(max_length=100_000)


class TestRegex(Tool):
    name = "test_regex"
    description = "Run a regular expression over a text and list the matches."
    Args: ClassVar = RegexArgs

    def run(self, args: RegexArgs, context: ToolContext) -> ToolResult:
        try:
            pattern = re.compile(args.pattern)
        except re.error as error:
            raise ToolError(f"invalid regular expression: {error}") from error
        return ToolResult(output=[m.group(0) for m in pattern.finditer(args.text)][:100])


class JsonArgs(ToolArgs):
    text: str = Field(min_length=1, max_length=1_000_000)


class FormatJson(Tool):
    name = "format_json"
    description = "Validate JSON and pretty-print it, or say where it is broken."
    Args: ClassVar = JsonArgs

    def run(self, args: JsonArgs, context: ToolContext) -> ToolResult:
        try:
            return ToolResult(
                output=json.dumps(json.loads(args.text), indent=2, ensure_ascii=False)
            )
        except json.JSONDecodeError as error:
            raise ToolError(
                f"invalid JSON: {error.msg} at line {error.lineno} column {error.colno}"
            ) from error


_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 100:
            raise ToolError("exponent too large")
        return _OPERATORS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.operand))
    raise ToolError("only numbers and + - * / // % ** are allowed")


class CalculateArgs(ToolArgs):
    expression: str = Field(min_length=1, max_length=500)


class Calculate(Tool):
    name = "calculate"
    description = "Evaluate an arithmetic expression safely (numbers and + - * / // % ** only)."
    Args: ClassVar = CalculateArgs

    def run(self, args: CalculateArgs, context: ToolContext) -> ToolResult:
        try:
            tree = ast.parse(args.expression, mode="eval")
            return ToolResult(output=_evaluate(tree))
        except (SyntaxError, ZeroDivisionError) as error:
            raise ToolError(f"cannot evaluate: {error}") from error


_UNITS = {  # to the base unit of each dimension
    "length": {
        "mm": 0.001,
        "cm": 0.01,
        "m": 1.0,
        "km": 1000.0,
        "in": 0.0254,
        "ft": 0.3048,
        "yd": 0.9144,
        "mi": 1609.344,
    },
    "mass": {"g": 0.001, "kg": 1.0, "lb": 0.45359237, "oz": 0.028349523125},
    "volume": {"ml": 0.001, "l": 1.0, "gal": 3.785411784, "cup": 0.2365882365},
    "data": {
        "b": 1.0,
        "kb": 1e3,
        "mb": 1e6,
        "gb": 1e9,
        "kib": 1024.0,
        "mib": 1024.0**2,
        "gib": 1024.0**3,
    },
}


class ConvertArgs(ToolArgs):
    value: float
    from_unit: str = Field(min_length=1, max_length=10)
    to_unit: str = Field(min_length=1, max_length=10)


class ConvertUnits(Tool):
    name = "convert_units"
    description = (
        "Convert between units of length, mass, volume, data size, or temperature (c, f, k)."
    )
    Args: ClassVar = ConvertArgs

    def run(self, args: ConvertArgs, context: ToolContext) -> ToolResult:
        src, dst = args.from_unit.lower(), args.to_unit.lower()
        temperature = {"c": (1.0, 0.0), "k": (1.0, -273.15), "f": (5 / 9, -32 * 5 / 9)}
        if src in temperature and dst in temperature:
            scale, offset = temperature[src]
            celsius = args.value * scale + offset
            scale, offset = temperature[dst]
            return ToolResult(output=(celsius - offset) / scale)
        for table in _UNITS.values():
            if src in table and dst in table:
                return ToolResult(output=args.value * table[src] / table[dst])
        raise ToolError(f"cannot convert {args.from_unit} to {args.to_unit}")


TEXT_TOOLS: tuple[type[Tool], ...] = (
    SummarizeText,
    ExtractKeywords,
    CompareTexts,
    CountWords,
    TranslateText,
    TestRegex,
    FormatJson,
    Calculate,
    ConvertUnits,
)
