// The chat page: asks POST /api/ask and renders each answer with DOM nodes.
//
// Safety rule of this file: text from documents or users is only ever set with textContent or
// text nodes, never parsed as HTML. The markup built here mirrors web/templates/_macros.html
// (the server-side rendering used without JavaScript); the few shared settings come from data
// attributes written by web/routers/pages.py.

import { installFeedback, renderAnsweredIt, renderFeedback } from "./feedback.js";

const STORAGE_KEY = "verbatim.conversation.v1";
const MAX_STORED_TURNS = 40;
const REQUEST_TIMEOUT_MS = 60000;

const main = document.getElementById("main");
const form = document.getElementById("ask-form");
const input = document.getElementById("question");
const button = document.getElementById("ask-button");
const log = document.getElementById("conversation");
const intro = document.getElementById("intro");
const hint = document.getElementById("composer-hint");
const newConversation = document.getElementById("new-conversation");
const coverageTemplate = document.getElementById("coverage-template");

const settings = readSettings(main);
let busy = false;

function parseJson(text, fallback) {
  try {
    return JSON.parse(text);
  } catch {
    return fallback;
  }
}

function readSettings(root) {
  return {
    levels: parseJson(root.dataset.confidenceLevels, [[0, "possible", "Possible match"]]),
    labels: parseJson(root.dataset.safetyLabels, {}),
    chips: parseJson(root.dataset.evidenceChips, {}),
  };
}

// -- small DOM helpers ----------------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

// -- the same rules as web/routers/pages.py ---------------------------------------------------

function describeConfidence(value) {
  for (const [minimum, key, words] of settings.levels) {
    if (value >= minimum) return { key, words };
  }
  const [, key, words] = settings.levels[settings.levels.length - 1];
  return { key, words };
}

// cutExcerpt shows the part of a quote the API chose (passage.excerpt, computed once by
// web/excerpt.py, as the page without JavaScript shows it). Offsets count Unicode code points
// (as Python does), so the quote is handled as an array of code points, not UTF-16 units.
function cutExcerpt(passage) {
  const chars = Array.from(passage.quote);
  // A turn stored in the tab by an older page has no excerpt: it shows the whole quote.
  const shown = passage.excerpt || { start: passage.start, end: passage.end, clipped_start: false, clipped_end: false };
  const low = clamp(passage.highlight_start - passage.start, 0, chars.length);
  const high = clamp(passage.highlight_end - passage.start, low, chars.length);
  const first = clamp(shown.start - passage.start, 0, low);
  const last = clamp(shown.end - passage.start, high, chars.length);
  return {
    before: chars.slice(first, low).join(""),
    marked: chars.slice(low, high).join(""),
    after: chars.slice(high, last).join(""),
    clippedStart: shown.clipped_start,
    clippedEnd: shown.clipped_end,
  };
}

function documentHref(passage) {
  const query = new URLSearchParams({
    start: String(passage.start),
    end: String(passage.end),
    hl_start: String(passage.highlight_start),
    hl_end: String(passage.highlight_end),
  });
  return `/documents/${encodeURIComponent(passage.doc_id)}?${query}#quote`;
}

// -- rendering (mirrors _macros.html) ---------------------------------------------------------

function renderSafetyNotice(disclaimer, topics) {
  const aside = el("aside", "safety-notice");
  aside.setAttribute("aria-label", "Safety notice");
  const title = el("p", "safety-notice__title");
  const icon = el("span", "safety-notice__icon", "!");
  icon.setAttribute("aria-hidden", "true");
  title.append(icon, "Safety notice");
  aside.append(title, el("p", "safety-notice__text", disclaimer));
  if (topics.length) {
    const box = el("div", "safety-notice__topics");
    box.append(el("span", "safety-notice__topics-label", "Related to:"));
    const list = el("ul", "topic-list");
    for (const topic of topics) list.append(el("li", "topic", settings.labels[topic] || topic));
    box.append(list);
    aside.append(box);
  }
  return aside;
}

function renderPassage(passage, supporting) {
  const figure = el("figure", supporting ? "evidence evidence--supporting" : "evidence");
  const excerpt = cutExcerpt(passage);
  const chip = renderEvidenceChip(passage.evidence);
  if (chip) figure.append(chip);
  const blockquote = el("blockquote", "quote");
  const paragraph = el("p");
  if (excerpt.clippedStart) paragraph.append(ellipsis());
  paragraph.append(document.createTextNode(excerpt.before));
  paragraph.append(el("mark", "quote__mark", excerpt.marked));
  paragraph.append(document.createTextNode(excerpt.after));
  if (excerpt.clippedEnd) paragraph.append(ellipsis());
  blockquote.append(paragraph);

  const caption = el("figcaption", "citation");
  const link = el("a", "citation__link", passage.title);
  link.href = documentHref(passage);
  caption.append(link);
  if (passage.section && passage.section !== passage.title) {
    caption.append(" ", el("span", "citation__section", passage.section));
  }
  figure.append(blockquote, caption);
  return figure;
}

function ellipsis() {
  const span = el("span", "quote__ellipsis", "…");
  span.setAttribute("aria-hidden", "true");
  return span;
}

function renderCoverage() {
  return coverageTemplate.content.cloneNode(true);
}

function section(className, label) {
  const node = el("section", className);
  node.setAttribute("aria-label", label);
  return node;
}

// `history`: the earlier turns the question was sent with (the feedback on a follow-up carries them).
function renderReply(response, question = response.question, history = []) {
  const reply = renderAnswer(response, question, history);
  const readAs = renderReadAs(response);
  if (readAs) reply.prepend(readAs);
  return reply;
}

function renderAnswer(response, question, history) {
  if (response.abstained) {
    const reply = section("reply reply--abstained", "Answer");
    reply.append(
      el("p", "reply__label", "Not in my sources"),
      el("p", "reply__text", "I couldn't find this in my sources, so I won't guess."),
    );
    if (response.reason) reply.append(el("p", "reply__reason", `Why: ${response.reason}.`));
    if (response.disclaimer) reply.append(renderSafetyNotice(response.disclaimer, response.safety_topics));
    reply.append(renderCoverage());
    reply.append(renderFeedback(question, response, history));
    return reply;
  }
  const reply = section("reply", "Answer");
  const meta = el("div", "reply__meta");
  const level = describeConfidence(response.confidence);
  const confidence = el("p", `confidence confidence--${level.key}`);
  confidence.title = "How closely the quoted passage matches your question";
  confidence.append(el("span", "visually-hidden", "Confidence: "), level.words);
  meta.append(el("p", "reply__label", "Answer"), confidence);
  reply.append(meta, el("p", "reply__text", response.answer));
  if (response.disclaimer) reply.append(renderSafetyNotice(response.disclaimer, response.safety_topics));
  const passages = response.passages;
  // The other source's passage shown beside the answer's: decided by the server (web/evidence_view.py)
  // and sent as `beside`, so this page and the page without JavaScript show the same pair.
  const beside = response.beside ?? null; // null or absent (a turn stored before the field): no pair
  const [first] = passages;
  const rest = passages.slice(1).filter((_, index) => index + 1 !== beside);
  if (first && beside !== null) {
    reply.append(renderEvidencePair(renderPassage(first, false), renderPassage(passages[beside], false)));
  } else if (first) {
    reply.append(renderPassage(first, false));
  }
  reply.append(renderFeedback(question, response, history));
  if (rest.length) {
    const details = el("details", "supporting");
    details.append(el("summary", null, `More from the sources (${rest.length})`));
    for (const passage of rest) details.append(renderPassage(passage, true), renderAnsweredIt(question, response, passage, history));
    reply.append(details);
  }
  return reply;
}

// -- evidence kinds (issue 26): mirrors web/templates/_evidence.html and web/evidence_view.py --

function renderEvidenceChip(evidence) {
  const text = evidence && settings.chips[evidence.kind];
  if (!text) return null;
  const line = el("p", "evidence-kind");
  const chip = el("span", `evidence-chip evidence-chip--${evidence.kind}`);
  chip.tabIndex = 0;
  chip.append(el("span", "visually-hidden", "Kind of evidence: "), text.label);
  if (evidence.design) chip.append(el("span", "evidence-chip__design", ` · ${evidence.design}`));
  const tip = el("span", "evidence-chip__tip", text.explanation);
  tip.setAttribute("role", "tooltip");
  chip.append(tip);
  line.append(chip);
  return line;
}

function renderEvidencePair(first, second) {
  const group = el("div", "evidence-pair");
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", "Two sources, two kinds of evidence");
  const items = el("div", "evidence-pair__items");
  items.append(first, second);
  group.append(el("p", "evidence-pair__lead", "The two sources give different kinds of evidence:"), items);
  return group;
}

function renderError(message) {
  const reply = section("reply reply--error", "Error");
  reply.append(el("p", "reply__label", "Something went wrong"), el("p", "reply__text", message));
  return reply;
}

function renderThinking() {
  const reply = section("reply reply--thinking", "Thinking");
  const line = el("p", "thinking");
  const dots = el("span", "thinking__dots");
  dots.setAttribute("aria-hidden", "true");
  dots.append(el("span"), el("span"), el("span"));
  line.append(dots, "Looking through the sources…");
  reply.append(line);
  return reply;
}

function renderTurn(question) {
  const article = el("article", "turn");
  const asked = el("div", "turn__question");
  asked.append(el("h2", "visually-hidden", "You asked"), el("p", "bubble", question));
  article.append(asked);
  return article;
}

// -- talking to the API -----------------------------------------------------------------------

function errorMessage(status, body) {
  const detail = body && typeof body.error === "string" ? body.error : "";
  if (status === 422) {
    return detail ? `The question wasn't accepted: ${detail}.` : "The question wasn't accepted. Please rephrase it.";
  }
  if (status === 413) return "That question is too long to send. Please shorten it.";
  if (status === 429) return "Too many questions in a short time. Please wait a moment and try again.";
  if (status === 503) return "The service is starting up or reloading its sources. Please try again in a moment.";
  return `The server couldn't answer (error ${status}). Please try again.`;
}

// -- conversation context: earlier turns sent with each question (follow-ups) ---------------------

const MAX_HISTORY_TURNS = 5;

// The earlier turns as POST /api/ask reads them: each question with the span its answer quoted
// (passages[0]'s highlight), or nulls when it abstained.
function historyFor(turns) {
  return turns.slice(-MAX_HISTORY_TURNS).map(({ question, response }) => {
    const first = response && !response.abstained && Array.isArray(response.passages) ? response.passages[0] : null;
    return first
      ? { question, doc_id: first.doc_id, start: first.highlight_start, end: first.highlight_end }
      : { question, doc_id: null, start: null, end: null };
  });
}

// "Read as ..." under a follow-up whose answer was found for a reworded question.
function renderReadAs(response) {
  if (!response.followup || !response.read_as || response.read_as === response.question) return null;
  return el("p", "reply__read-as", `Read as: ${response.read_as}`);
}

async function postQuestion(question, history) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  let response;
  try {
    response = await fetch("/api/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ question, history }),
      signal: controller.signal,
    });
  } catch (error) {
    throw new Error(
      error.name === "AbortError"
        ? "The server took too long to answer. Please try again."
        : "Couldn't reach the server. Check your connection and try again.",
    );
  } finally {
    clearTimeout(timer);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(errorMessage(response.status, body));
  if (!body || typeof body.abstained !== "boolean" || !Array.isArray(body.passages)) {
    throw new Error("The server sent a reply this page can't read. Please try again.");
  }
  return body;
}

// -- conversation state (kept for the tab, so following a citation and coming back keeps it) --

function loadTurns() {
  try {
    const turns = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "[]");
    return Array.isArray(turns) ? turns : [];
  } catch {
    return [];
  }
}

// `history` is kept with the turn so its feedback, after a reload, carries what was sent.
function saveTurn(question, response, history) {
  try {
    const turns = loadTurns();
    turns.push({ question, response, history });
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(turns.slice(-MAX_STORED_TURNS)));
  } catch {
    // Storage full or disabled: the conversation just won't survive a reload.
  }
}

function clearTurns() {
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Nothing stored.
  }
}

function showConversation() {
  intro.hidden = true;
  newConversation.hidden = false;
}

function scrollToTurn(article, smooth) {
  const behavior = smooth && !matchMedia("(prefers-reduced-motion: reduce)").matches ? "smooth" : "auto";
  const tall = article.getBoundingClientRect().height > window.innerHeight * 0.6;
  article.scrollIntoView({ block: tall ? "start" : "end", behavior });
}

function setBusy(value) {
  busy = value;
  button.disabled = value;
  button.textContent = value ? "Asking…" : "Ask";
  log.setAttribute("aria-busy", String(value));
}

async function ask(text) {
  if (busy) return;
  const question = text.trim();
  if (!question) {
    input.focus();
    return;
  }
  setBusy(true);
  showConversation();
  const article = renderTurn(question);
  const thinking = renderThinking();
  article.append(thinking);
  log.append(article);
  input.value = "";
  scrollToTurn(article, true);
  try {
    const history = historyFor(loadTurns());
    const response = await postQuestion(question, history);
    thinking.replaceWith(renderReply(response, question, history));
    saveTurn(question, response, history);
  } catch (error) {
    thinking.replaceWith(renderError(error.message));
    // Give the question back so it can be sent again as it was.
    if (!input.value.trim()) input.value = text;
  } finally {
    setBusy(false);
    scrollToTurn(article, true);
    input.focus();
  }
}

// -- wiring -------------------------------------------------------------------------------------

function restore() {
  if (log.children.length) return; // a server-rendered answer (form post) is already shown
  const turns = loadTurns();
  for (const { question, response, history } of turns) {
    if (typeof question !== "string" || !response || !Array.isArray(response.passages)) continue;
    const article = renderTurn(question);
    article.append(renderReply(response, question, Array.isArray(history) ? history : []));
    log.append(article);
  }
  if (log.children.length) {
    showConversation();
    scrollToTurn(log.lastElementChild, false);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  ask(input.value);
});

input.addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.altKey) return;
  event.preventDefault();
  ask(input.value);
});

newConversation.addEventListener("click", (event) => {
  event.preventDefault();
  if (busy) return;
  clearTurns();
  log.replaceChildren();
  intro.hidden = false;
  newConversation.hidden = true;
  window.scrollTo({ top: 0 });
  input.focus();
});

hint.hidden = false;
installFeedback(log);
restore();
input.focus({ preventScroll: log.children.length > 0 });
