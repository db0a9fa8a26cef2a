"""The scripted LLM's plan grammar and step selection."""

import pytest

from aosiq.fake_llm import (
    NO_PLAN_ANSWER,
    Conversation,
    PlanError,
    Step,
    choose_step,
    count_tokens,
    parse_plan,
    read_anthropic,
    read_chat,
    step_for,
)

TASK = """Tidy the notes folder.
plan:
1. call fs.read_file {"path": "notes/q3.txt"}
wait 2.5
2. call fs.delete_file {"path": "notes/old.txt"}
3. answer Deleted the stale note. [evidence: 1]
"""


def test_parses_calls_answers_and_waits():
    assert parse_plan(TASK) == (
        Step(kind="call", tool="fs.read_file", args={"path": "notes/q3.txt"}),
        Step(kind="call", tool="fs.delete_file", args={"path": "notes/old.txt"}, delay_s=2.5),
        Step(kind="answer", text="Deleted the stale note. [evidence: 1]"),
    )


def test_call_without_args_has_empty_args_and_header_is_case_insensitive():
    assert parse_plan("Plan:\n1. call fs.list_dir\n2. answer done") == (
        Step(kind="call", tool="fs.list_dir"),
        Step(kind="answer", text="done"),
    )


def test_waits_accumulate_onto_the_next_step():
    (step,) = parse_plan("plan:\nwait 1\nwait 0.5\n1. answer late")
    assert step.delay_s == 1.5


def test_usage_line_sets_the_next_steps_reported_output_tokens():
    first, second = parse_plan("plan:\nusage 90000\n1. call fs.list_dir {}\n2. answer ok")
    assert first.reported_output_tokens == 90000 and second.reported_output_tokens is None


def test_plan_ends_at_first_line_that_is_not_part_of_it():
    plan = parse_plan("plan:\n\n1. call fs.list_dir {}\nThanks!\n2. answer ignored")
    assert plan == (Step(kind="call", tool="fs.list_dir"),)


def test_no_plan_line_means_no_plan():
    assert parse_plan("Just answer: what is 2+2? 1. call x") == ()
    assert choose_step("no plan here", 0) == Step(kind="answer", text=NO_PLAN_ANSWER)


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("plan:\n2. answer skipped one", "expected step 1, found step 2"),
        ("plan:\n1. call fs.read_file {not json}", "not valid JSON"),
        ("plan:\n1. call fs.read_file [1, 2]", "must be a JSON object"),
        ("plan:\n1. call", "needs a tool name"),
        ("plan:\n1. think hard", "not 'think'"),
        ("plan:\nwait soon\n1. answer x", "number of seconds"),
        ("plan:\nwait -1\n1. answer x", "non-negative"),
        ("plan:\n1. answer x\nwait 3", "wait must come before a step"),
        ("plan:\nusage lots\n1. answer x", "whole number of output tokens"),
        ("plan:\n1. answer x\nusage 5", "usage line must come before a step"),
    ],
)
def test_malformed_plans_are_refused_with_the_reason(task, message):
    with pytest.raises(PlanError, match=message):
        parse_plan(task)
    answer = choose_step(task, 0)
    assert answer.kind == "answer" and message in answer.text


def test_step_k_plus_one_then_the_last_answer_repeats():
    plan = parse_plan(TASK)
    assert [step_for(plan, k).kind for k in range(3)] == ["call", "call", "answer"]
    assert step_for(plan, 1).tool == "fs.delete_file"
    assert step_for(plan, 7) == plan[2]


def test_plan_without_answer_falls_back_to_no_plan_answer_past_its_end():
    plan = parse_plan("plan:\n1. call fs.list_dir")
    assert step_for(plan, 1) == Step(kind="answer", text=NO_PLAN_ANSWER)


def test_anthropic_counts_tool_result_blocks_and_reads_task_from_first_user_turn():
    body = {
        "system": "plan:\n1. answer from the system prompt is ignored",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": TASK}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "x", "input": {}}]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "a", "content": "plan:\n1. answer injected"},
                    {"type": "tool_result", "tool_use_id": "b", "content": "two"},
                    {"type": "text", "text": "nudge: cite evidence"},
                ],
            },
        ],
        "tools": [{"name": "fs__read_file", "input_schema": {}}],
    }
    convo = read_anthropic(body)
    assert convo == Conversation(task=TASK, tool_results=2, tool_wire_names=("fs__read_file",))


def test_chat_counts_tool_messages():
    body = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "plan:"}, {"type": "image_url"}]},
            {"role": "assistant", "content": None, "tool_calls": []},
            {"role": "tool", "tool_call_id": "c1", "content": "r"},
            {"role": "user", "content": "nudge"},
        ],
        "tools": [{"type": "function", "function": {"name": "fs__list_dir"}}],
    }
    assert read_chat(body) == Conversation(task="plan:", tool_results=1, tool_wire_names=("fs__list_dir",))


def test_wire_name_prefers_the_offered_tool_and_encodes_unoffered_ones():
    convo = Conversation(task="", tool_results=0, tool_wire_names=("fs__read_file", "fs.list_dir"))
    assert convo.wire_name("fs.read_file") == "fs__read_file"
    assert convo.wire_name("fs.list_dir") == "fs.list_dir"
    assert convo.wire_name("fs.delete_file") == "fs__delete_file"


def test_token_count_is_about_four_characters_over_string_values():
    assert count_tokens({"model": "abcd", "messages": [{"role": "user", "content": "x" * 8}], "n": 5}) == 4
