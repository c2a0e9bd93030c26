"""When does the silence end the turn: a fixed window, or a decision from what was said (pure).

``TurnDetector`` (voice/vad.py) asks its policy on every silent frame: ``decide(silence_ms,
speech_end_ms)`` -> end now or wait. ``FixedEndpoint`` is the classic fixed silence window.
``SemanticEndpoint`` combines three signals, re-evaluated as the silence grows:

- the silence so far (never below ``min_ms``, always by ``max_ms``);
- the transcript's completeness (``tools/completeness.py``), but only of a text that covers the
  speech up to its last voiced sample: a partial decoded before the last words is stale;
- Smart Turn v3's probability that the turn is complete (``voice/smart_turn.py``), asked once per
  silence at ``probe_ms``; absent when the model is not installed.

Rules, first match wins (after ``min_ms``):

1. the covering text is unfinished ("... of", "um", "what is the") -> hold to ``max_ms``;
2. the tentative final that covers the speech is still being decoded (``hold_for_text``) ->
   hold until ``doubt_ms``, whatever a partial's text says: ending sooner would not bring the
   answer sooner (the final *is* that decode), and a pause that goes on would be cut;
3. the covering text is complete -> end, unless Smart Turn says unfinished: then ``doubt_ms``;
4. no covering text: Smart Turn sure it is complete (>= ``smart_sure``) -> end; Smart Turn
   unfinished -> hold until the text arrives (or ``max_ms``);
5. a text that may end on a cut-off word ("who won that", Whisper's rendering of "who won
   the") waits for ``doubt_ms``; only in a follow-up (an earlier answer a pronoun may refer
   to: ``has_referent``) does a sure Smart Turn end it sooner;
6. otherwise (a text of unclear shape, a lukewarm or pending Smart Turn, no model) ->
   end at ``unknown_ms``, or at once when an unclear text meets a Smart Turn "complete".

Why Smart Turn alone only ends a turn when sure: on the piper voice every fragment ends on a
falling pitch, and at 200 ms of silence the model calls "what is the capital of" complete
(0.85); at its 64 ms probe complete questions score 0.93-0.98 and the fragments 0.01-0.73
(docs/decisions.md). The covering transcript (the tentative final) takes ~300 ms to decode here.
Signals are dropped when speech resumes (``reset``); ``epoch`` tells late results to go away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tools.language.completeness import Completeness, completeness
from voice.settings import AudioSettings

COVER_TOLERANCE_MS = 32  # one VAD frame: the VAD's voiced edge lags the words a little


class Endpoint(Protocol):
    probe_ms: int | None  # silence at which to ask the audio model, None: never
    reason: str

    def reset(self) -> None: ...

    def decide(self, silence_ms: int, speech_end_ms: int) -> bool: ...


class FixedEndpoint:
    """End after ``end_ms`` of silence, whatever was said."""

    probe_ms: int | None = None

    def __init__(self, end_ms: int = AudioSettings.end_of_turn_ms) -> None:
        self.end_ms = end_ms
        self.reason = ""

    def reset(self) -> None:
        self.reason = ""

    def decide(self, silence_ms: int, speech_end_ms: int) -> bool:
        self.reason = f"fixed {self.end_ms} ms"
        return silence_ms >= self.end_ms


@dataclass(frozen=True)
class SemanticParams:
    min_ms: int = AudioSettings.eot_min_ms  # a complete turn ends after this much silence
    max_ms: int = AudioSettings.eot_max_ms  # hard maximum: a turn always ends by then
    doubt_ms: int = 900  # the text is complete but Smart Turn says unfinished
    unknown_ms: int = 500  # neither signal has a verdict yet (about the old fixed window)
    probe_ms: int = 64  # ask Smart Turn after this much silence (its answer takes ~100-200 ms)
    smart_threshold: float = 0.5  # Smart Turn probability of "complete"
    smart_sure: float = 0.9  # ... high enough to end without a covering transcript
    hold_for_text: bool = True  # no verdict while the covering decode is under way


class SemanticEndpoint:
    """Silence + transcript completeness + Smart Turn probability -> end now or wait."""

    def __init__(
        self,
        params: SemanticParams | None = None,
        smart_turn: bool = True,
        has_referent: Callable[[], bool] = lambda: False,
    ) -> None:
        self.params = params or SemanticParams()
        self.has_referent = has_referent  # is there an earlier answer a pronoun could mean?
        self.probe_ms = self.params.probe_ms if smart_turn else None
        self.epoch = 0
        self.reason = ""
        self._text: tuple[str, int] | None = None  # (text, audio ms it covers)
        self._smart: float | None = None
        self._pending: int | None = None  # audio ms a decode under way will cover

    def reset(self) -> None:
        """Speech (re)started: every signal so far describes an older, shorter turn."""
        self.epoch += 1
        self._text, self._smart, self.reason, self._pending = None, None, "", None

    def on_pending(self, covers_ms: int | None) -> None:
        """A decode covering the audio up to ``covers_ms`` is under way (None: it failed)."""
        self._pending = covers_ms

    def on_text(self, text: str, covers_ms: int, final: bool = False) -> None:
        """A transcript of the turn's audio up to ``covers_ms`` (audio time); ``final``: the
        final model's, from the decode ``on_pending`` announced (it outranks a partial's)."""
        if final:
            self._pending = None  # that decode has landed
        if final or self._text is None or covers_ms >= self._text[1]:
            self._text = (text, covers_ms)

    def on_smart(self, probability: float) -> None:
        self._smart = probability

    def text_verdict(self, speech_end_ms: int) -> Completeness | None:
        """Completeness of the latest transcript, if it covers the speech; else None."""
        if self._text is None or self._text[1] < speech_end_ms - COVER_TOLERANCE_MS:
            return None
        return completeness(self._text[0])

    def decide(self, silence_ms: int, speech_end_ms: int) -> bool:
        p = self.params
        if silence_ms >= p.max_ms:
            self.reason = f"hard maximum {p.max_ms} ms"
            return True
        if silence_ms < p.min_ms:
            return False
        text, smart = self.text_verdict(speech_end_ms), self._smart
        smart_no = smart is not None and smart < p.smart_threshold
        if text is not None and text.incomplete:
            self.reason = f"text unfinished ({text.reason})"
            return False
        holding = p.hold_for_text and silence_ms < p.doubt_ms  # a slow decode: the rest decide
        if holding and self._decoding(speech_end_ms):
            # the final's own text is on its way: a partial's verdict (tiny.en's "what record
            # label released" for "... released the |") must not end the turn before it
            self.reason = f"waiting for the tentative final (smart turn {_fmt(smart)})"
            return False
        if text is not None and text.complete:
            self.reason = f"text complete ({text.reason}), smart turn {_fmt(smart)}"
            return not smart_no or silence_ms >= p.doubt_ms
        if text is None and smart is not None:
            if smart >= p.smart_sure:
                self.reason = f"smart turn sure ({smart:.2f}), no transcript yet"
                return True
            if smart_no:
                self.reason = f"smart turn unfinished ({smart:.2f}), waiting for the transcript"
                return False
        if text is not None and text.cut_off and silence_ms < p.doubt_ms:
            # "who won that" is Whisper's cut-off "who won the |" as often as a finished
            # question, and Smart Turn calls both complete on piper (0.91-0.98); only with an
            # earlier answer to refer to may a sure Smart Turn end it before doubt_ms
            refers = self.has_referent()
            self.reason = f"text may be cut off ({text.reason}), smart turn {_fmt(smart)}"
            return refers and smart is not None and smart >= p.smart_sure
        if text is not None and smart is not None:  # an unclear text: Smart Turn decides
            self.reason = f"text unclear ({text.reason}), smart turn {smart:.2f}"
            return not smart_no
        self.reason = (
            f"no verdict yet (text {text.reason if text else 'none'}, smart {_fmt(smart)})"
        )
        return silence_ms >= p.unknown_ms

    def _decoding(self, speech_end_ms: int) -> bool:
        """A decode under way covers the speech (its text has not come back yet)."""
        return self._pending is not None and self._pending >= speech_end_ms - COVER_TOLERANCE_MS


def _fmt(p: float | None) -> str:
    return "pending" if p is None else f"{p:.2f}"


def make_endpoint(
    policy: str,
    fixed_ms: int,
    params: SemanticParams | None = None,
    smart_turn: bool = True,
    has_referent: Callable[[], bool] = lambda: False,
) -> FixedEndpoint | SemanticEndpoint:
    """``policy`` is "semantic" or "fixed"; a fixed window uses ``fixed_ms``."""
    if policy == "fixed":
        return FixedEndpoint(fixed_ms)
    if policy == "semantic":
        return SemanticEndpoint(params, smart_turn, has_referent)
    raise ValueError(f"end_of_turn must be 'semantic' or 'fixed', not {policy!r}")
