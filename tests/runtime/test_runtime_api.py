"""The runtime API's command language: registration, dispatch, ``;`` and escapes, levels, and
HAProxy 2.6's help and "Unknown command" texts (checked against haproxy 2.6.12's socket)."""

from __future__ import annotations

import pytest

from stack.runtime import CommandError, RuntimeApi
from stack.runtime.api import Session, split_words, take_command

ALWAYS = (
    "  help [<command>]                        : list matching or all commands\n"
    "  prompt                                  : toggle interactive mode with prompt\n"
    "  quit                                    : disconnect\n"
)


@pytest.fixture
def api() -> RuntimeApi:
    api = RuntimeApi()
    api.register(
        ("show", "cache"),
        lambda args: "cache " + ",".join(args),
        level="operator",
        help="show cache status",
    )
    api.register(
        ("purge", "cache"),
        lambda args: "",
        level="admin",
        help="remove cached objects",
        args="[<key>]",
    )
    return api


# --- registration -----------------------------------------------------------------------------


def test_help_line_is_haproxys_40_column_usage(api: RuntimeApi) -> None:
    out = api.execute("help", "admin")
    assert "  show cache                              : show cache status\n" in out
    assert "  purge cache [<key>]                     : remove cached objects\n" in out


def test_long_synopsis_overflows_the_column_like_haproxy() -> None:
    api = RuntimeApi()
    api.register(
        ("show", "profiling"),
        lambda a: "",
        level="user",
        help="show profiling state (all,status,tasks,memory)",
        args="[<what>|<#lines>|byaddr]*",
    )
    # the exact line haproxy 2.6 prints
    assert (
        "  show profiling [<what>|<#lines>|byaddr]*: "
        "show profiling state (all,status,tasks,memory)\n" in api.execute("help", "user")
    )


@pytest.mark.parametrize(
    ("words", "level"),
    [
        (("show", "cache"), "admin"),  # twice
        (("help",), "admin"),
        (("quit", "now"), "admin"),
        ((), "admin"),
        (("show cache",), "admin"),
        (("a", "b", "c", "d", "e", "f"), "admin"),
        (("x",), "root"),
    ],
)
def test_bad_registrations_are_refused(api: RuntimeApi, words: tuple[str, ...], level: str) -> None:
    with pytest.raises(ValueError):
        api.register(words, lambda a: "", level=level, help="x")


# --- dispatch and framing ---------------------------------------------------------------------


def test_handler_gets_the_words_after_the_command(api: RuntimeApi) -> None:
    assert api.execute("show cache a  b\tc", "admin") == "cache a,b,c\n\n"


def test_every_answer_ends_with_an_empty_line(api: RuntimeApi) -> None:
    assert api.execute("purge cache", "admin") == "\n"
    assert api.execute("show cli level", "operator") == "operator\n\n"


def test_a_final_line_feed_is_added_when_the_handler_omits_it() -> None:
    api = RuntimeApi()
    api.register(("a",), lambda a: "x", level="user", help="a")
    api.register(("b",), lambda a: "y\n", level="user", help="b")
    assert api.execute("a;b", "user") == "x\n\ny\n\n"


def test_longest_command_prefix_wins() -> None:
    api = RuntimeApi()
    api.register(("show",), lambda a: "short " + " ".join(a), level="user", help="s")
    api.register(("show", "stat"), lambda a: "long " + " ".join(a), level="user", help="l")
    assert api.execute("show stat x", "user") == "long x\n\n"
    assert api.execute("show info", "user") == "short info\n\n"


def test_command_error_is_the_answer(api: RuntimeApi) -> None:
    def fail(args: list[str]) -> str:
        raise CommandError("No such backend.\n")

    api.register(("get", "weight"), fail, level="user", help="g")
    assert api.execute("get weight b/s", "user") == "No such backend.\n\n"


def test_a_crashing_handler_answers_internal_error(api: RuntimeApi) -> None:
    def crash(args: list[str]) -> str:
        raise RuntimeError("bug")

    api.register(("crash",), crash, level="user", help="c")
    assert api.execute("crash;show cli level", "user") == "Internal error.\n\nuser\n\n"


# --- ';' and escapes --------------------------------------------------------------------------


def test_semicolons_separate_commands(api: RuntimeApi) -> None:
    assert api.execute("show cli level;show cli level", "admin") == "admin\n\nadmin\n\n"


def test_spaces_around_semicolons_do_not_matter(api: RuntimeApi) -> None:
    # haproxy 2.6: "show cli level ; user; show cli level" -> admin, (nothing), user
    assert api.execute("show cli level ; user; show cli level", "admin") == "admin\n\n\nuser\n\n"


def test_escaped_semicolon_and_space_stay_in_the_word(api: RuntimeApi) -> None:
    assert api.execute(r"show cache a\;b c\ d e\\f", "admin") == "cache a;b,c d,e\\f\n\n"


def test_escaped_space_joins_keywords_like_haproxy(api: RuntimeApi) -> None:
    # 'show\ cli level' is one word 'show cli' then 'level': no such command
    assert api.execute(r"show\ cli level", "admin").startswith("Unknown command, but maybe")
    # an escaped ordinary letter is that letter
    assert api.execute(r"show c\li level", "admin") == "admin\n\n"


def test_quit_ends_the_line(api: RuntimeApi) -> None:
    assert api.execute("show cli level;quit;show cli level", "admin") == "admin\n\n"
    assert api.execute("quit", "admin") == ""


def test_prompt_turns_the_rest_interactive(api: RuntimeApi) -> None:
    # haproxy 2.6 answers "prompt;show cli level" with "\n> admin\n\n> "
    assert api.execute("prompt;show cli level", "admin") == "\n> admin\n\n> "


def test_empty_command_gets_the_full_usage(api: RuntimeApi) -> None:
    out = api.execute("", "admin")
    assert out.startswith("Unknown command. Please enter one of the following commands only:\n")
    assert out.endswith(ALWAYS + "\n")


def test_take_command_and_split_words() -> None:
    assert take_command(b"help") is None
    assert take_command(b"a\\;b;c\n") == (b"a\\;b", 5)
    assert take_command(b"a\\\\;b") == (b"a\\\\", 4)
    assert take_command(b"show\r\nx") == (b"show", 6)
    assert split_words(" a\tb  c ") == ["a", "b", "c"]
    assert split_words("a\0b c") == ["a"]
    assert len(split_words(" ".join(["w"] * 100))) == 64


# --- levels -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "command", "answer"),
    [
        ("user", "show cache", "Permission denied\n\n"),
        ("operator", "show cache", "cache \n\n"),
        ("operator", "purge cache", "Permission denied\n\n"),
        ("admin", "purge cache x", "\n"),
        ("user", "operator", "Permission denied\n\n"),
    ],
)
def test_levels_are_enforced(api: RuntimeApi, level: str, command: str, answer: str) -> None:
    assert api.execute(command, level) == answer


def test_a_session_may_lower_its_level(api: RuntimeApi) -> None:
    out = api.execute("operator;show cli level;purge cache;user;show cache;show cli level", "admin")
    assert out == "\noperator\n\nPermission denied\n\n\nPermission denied\n\nuser\n\n"


def test_help_lists_only_what_the_level_may_run(api: RuntimeApi) -> None:
    admin = api.execute("help", "admin")
    user = api.execute("help", "user")
    assert admin == (
        "The following commands are valid at this level:\n"
        "  operator                                : lower the level of the current CLI session"
        " to operator\n"
        "  purge cache [<key>]                     : remove cached objects\n"
        "  show cache                              : show cache status\n"
        "  show cli level                          : display the level of the current CLI"
        " session\n"
        "  user                                    : lower the level of the current CLI session"
        " to user\n" + ALWAYS + "\n"
    )
    assert "show cache" not in user and "operator  " not in user
    assert "show cli level" in user and user.endswith(ALWAYS + "\n")


def test_help_with_words_lists_the_matching_commands(api: RuntimeApi) -> None:
    assert api.execute("help show", "admin") == (
        "The following commands are valid at this level:\n"
        "  show cache                              : show cache status\n"
        "  show cli level                          : display the level of the current CLI"
        " session\n" + ALWAYS + "\n"
    )


# --- unknown commands -------------------------------------------------------------------------


def test_unknown_command_suggests_the_closest_ones(api: RuntimeApi) -> None:
    # haproxy 2.6 answers 'showw cache' with 'show cache' alone, then help/prompt/quit
    assert api.execute("showw cache", "admin") == (
        "Unknown command, but maybe one of the following ones is a better match:\n"
        "  show cache                              : show cache status\n" + ALWAYS + "\n"
    )


def test_unknown_subcommand_is_matched_after_the_known_words(api: RuntimeApi) -> None:
    out = api.execute("show cahce", "admin")
    lines = out.splitlines()
    assert lines[0] == "Unknown command, but maybe one of the following ones is a better match:"
    assert lines[1].startswith("  show cache ")
    assert "purge" not in out


def test_unknown_command_does_not_suggest_above_the_level(api: RuntimeApi) -> None:
    out = api.execute("purge cach", "operator")
    assert "purge cache" not in out
    assert out.startswith("Unknown command")


def test_binary_junk_is_just_an_unknown_command(api: RuntimeApi) -> None:
    out = api.execute("\udcff\udcfe junk", "admin")
    assert out.startswith("Unknown command, but maybe one of the following ones")
    assert out.endswith(ALWAYS + "\n")


def test_session_state_is_per_session(api: RuntimeApi) -> None:
    session = Session("admin")
    assert api.run("prompt", session) == "\n> "
    assert session.interactive
    assert api.run("user", session) == "\n> "
    assert api.run("show cli level", session) == "user\n\n> "
    assert api.run("prompt", session) == "\n"
    assert not session.interactive
    assert api.run("quit", session) == ""
    assert session.closed
