"""The small-batch path's prefilters: cheap necessary conditions that let `model.cues` skip RE2 on most texts.

Kept apart from the patterns they guard so that each rule (a pattern, and the byte test that must hold before
it can match) can be read, and its width checked by the tests, on its own.
"""

from __future__ import annotations

# Small-batch prefilters. Each is a necessary condition for its pattern to match, tested on the text's UTF-8
# bytes (`data`) or on those bytes with the ASCII letters lower-cased (`lowered`: `bytes.lower` touches nothing
# else; the two non-ASCII letters that RE2's case folding equates with ASCII ones, K and ſ, are written k and s
# there first). The patterns' matches are ASCII apart from currency signs, emoji and those two letters, so
# lower-cased they are the same bytes, and every prefilter only asks for a piece that every alternative of its
# pattern must contain. A text a prefilter rejects therefore has no match (count 0); a text it accepts is
# counted by RE2, so the counts are the pattern's whatever the prefilter lets through. No \b in the prefilters:
# it is the one test whose answer could differ between a text and its lower-cased bytes, and Python's \s is a
# superset of RE2's, so a prefilter that says "\s?" lets through all that the pattern could match.
#
# The prefilters run on Python's `re`, which backtracks, so each one is written to match at most a few bytes
# (no `*`, `+` or `{n,}`: the test suite checks every prefilter's maximum width): from each start position it can
# only try a bounded number of paths, so a search is linear in the text. Searches start with a literal byte
# where possible, which `re` finds with a fast scan instead of trying the pattern at every position.
TLDS = rb"(?:com|net|org|info|biz|xyz|io|co|ly|me|site|online|top|club|shop|link|ru|us)"
# link: the separators "(dot)", "[dot]" and " dot " all hold "dot"; otherwise "://", "www." or "." and a domain.
LINK = rb"://|\.(?:(?<=www\.)|\s?" + TLDS + rb")"
# money, in texts with a digit: "$" or a non-ASCII currency sign (€ £ ¥), or, with digits mapped to "0", a unit
# right after a digit, "," or "." (the end of the amount before it, whose first character is a digit), or a
# comma between digits.
MONEY = rb"[0,.]\s?(?:usd|dollars|bucks|k)|0,0"
EARNING = rb"(?:per|a|an|each|every|/)\s?(?:hour|hr|day|week|wk|month|mo|year|yr)"
# contact_prompt: "@", "dm", "whats", "telegram", or a piece of another alternative. The pieces ending in a
# space are searched in the reversed bytes, where they start with it (a literal first byte is what makes a
# search fast); "signal me", "call me", "email me" end in "l me", "pm me" and "inbox me" in "m me" / "x me",
# "message me" and "text me" in "e me" / "t me".
CONTACT_REVERSED = rb" (?:tcatnoc|hcaer|kcehc|ni knil|kcilc)"
ME_REVERSED = rb"em [lmxet]"
# phone_like, with digits mapped to "0", O o S l I to "o", its separators to "-", and the bytes reversed: the
# final digit, then six characters that can stand for digits, each after at most three separators.
PHONE_REVERSED = rb"0(?:-{0,3}[0o]){6}"
# spelled_digits, with its separators mapped to "#": a number word between separators (the pattern has at least
# four words, each but the first after separators and each but the last before them: the second is one).
NUMBER = rb"(?:zero|one|two|three|four|five|six|seven|eight|nine|oh)"
SPELLED = rb"#" + NUMBER + rb"#"
# repeated_char: a character four times (case folded), once adjacent bytes are known to repeat three times.
REPEATED = rb"([a-z!?.$])\1\1\1"
DIGIT_IN_WORD = rb"0[a-z]"  # digits mapped to "0": a digit run followed by a letter
SPACED = b"a a a a"  # letters mapped to "a": four single letters, each but the last followed by a space
#: The prefilters that are regexes, in the order `_compiled` returns them.
PREFILTERS = (LINK, MONEY, EARNING, CONTACT_REVERSED, ME_REVERSED, PHONE_REVERSED, SPELLED, REPEATED,
               DIGIT_IN_WORD)
