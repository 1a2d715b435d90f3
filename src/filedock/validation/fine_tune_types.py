"""Fast-path types of fine-tuning examples: what a common valid example looks like.

msgspec enforces these shapes while decoding (per-role fields, weight 0 or 1, name patterns,
non-empty user and assistant content) and, as no field is skipped, the UTF-8 of every string.
Anything else (images, refusals, empty content, unknown keys) fails to decode and takes the slow
path in messages.py, which alone decides what is wrong.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from filedock.validation.tool_checks import NAME

# gc=False: decoded examples hold no reference cycles and live for one region; not tracking
# them saves the garbage collector's passes over millions of small objects (~15 % faster).

Name = Annotated[str, msgspec.Meta(pattern=f"^{NAME.pattern}$")]
Filled = Annotated[str, msgspec.Meta(min_length=1)]


class TextPart(msgspec.Struct, gc=False, tag_field="type", tag="text", forbid_unknown_fields=True):
    text: Filled


Parts = Annotated[list[TextPart], msgspec.Meta(min_length=1)]


class Function(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    name: Name
    arguments: str


class ToolCall(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    id: str
    type: Literal["function"]
    function: Function


# One type per role (tagged by "role"), so msgspec enforces the per-role rules itself.
class System(msgspec.Struct, gc=False, tag_field="role", tag="system", forbid_unknown_fields=True):
    content: str | Parts
    name: Name | msgspec.UnsetType = msgspec.UNSET


class Developer(
    msgspec.Struct, gc=False, tag_field="role", tag="developer", forbid_unknown_fields=True
):
    content: str | Parts
    name: Name | msgspec.UnsetType = msgspec.UNSET


class User(msgspec.Struct, gc=False, tag_field="role", tag="user", forbid_unknown_fields=True):
    content: Filled | Parts
    name: Name | msgspec.UnsetType = msgspec.UNSET


class Assistant(
    msgspec.Struct, gc=False, tag_field="role", tag="assistant", forbid_unknown_fields=True
):
    content: Filled | Parts | None = None
    name: Name | msgspec.UnsetType = msgspec.UNSET
    weight: Literal[0, 1] = 1  # absent: trained on
    tool_calls: list[ToolCall] | msgspec.UnsetType = msgspec.UNSET
    function_call: Function | msgspec.UnsetType = msgspec.UNSET
    refusal: str | msgspec.UnsetType | None = msgspec.UNSET


class Tool(msgspec.Struct, gc=False, tag_field="role", tag="tool", forbid_unknown_fields=True):
    content: str | Parts
    tool_call_id: str


class FunctionMessage(
    msgspec.Struct, gc=False, tag_field="role", tag="function", forbid_unknown_fields=True
):
    content: str | None
    name: Name


Message = System | Developer | User | Assistant | Tool | FunctionMessage


# Every field is known (nothing is skipped undecoded, so msgspec checks all of its UTF-8).
class FunctionDefinition(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    name: Name
    description: str | msgspec.UnsetType = msgspec.UNSET
    parameters: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    strict: bool | None = None


class ToolDefinition(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    type: Literal["function"]
    function: FunctionDefinition


class Chat(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    messages: Annotated[list[Message], msgspec.Meta(min_length=1)]
    tools: list[ToolDefinition] | None = None
    parallel_tool_calls: bool | None = None
    functions: (
        Annotated[list[FunctionDefinition], msgspec.Meta(min_length=1, max_length=128)]
        | msgspec.UnsetType
    ) = msgspec.UNSET


class Legacy(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    prompt: str
    completion: str


def chat_text(messages: list[Any]) -> str:
    """The text of a fast-path example's messages, for token counting."""
    texts: list[str] = []
    for m in messages:
        c = m.content
        if c.__class__ is str:
            texts.append(c)
        elif c:
            texts.extend(p.text for p in c)
        if m.__class__ is Assistant:
            if m.tool_calls:
                for call in m.tool_calls:
                    texts.append(call.function.name)
                    texts.append(call.function.arguments)
            if m.function_call:
                texts.append(m.function_call.name)
                texts.append(m.function_call.arguments)
    return "\n".join(texts)
