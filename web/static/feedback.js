// Feedback on answers (issue 27): "Helpful" / "Not helpful" with a reason, and "This one
// answered it" on the other passages shown. The markup comes from the <template>s the server
// renders in chat.html (web/templates/_feedback.html), so the page with and without JavaScript
// shows the same controls; here they are filled in and sent to POST /api/feedback as JSON.
// Nothing is sent until a person presses one of the buttons.

const FEEDBACK_TIMEOUT_MS = 20000;
const THANKS = "Thank you: your feedback was saved.";

function fillSpan(form, prefix, span) {
  form.elements[`${prefix}_doc`].value = span ? span.doc_id : "";
  form.elements[`${prefix}_start`].value = span ? String(span.start) : "";
  form.elements[`${prefix}_end`].value = span ? String(span.end) : "";
}

function highlight(passage) {
  return passage ? { doc_id: passage.doc_id, start: passage.highlight_start, end: passage.highlight_end } : null;
}

// A follow-up's feedback also carries how it was read and the turns it was sent with (the
// `history` of its POST /api/ask); a question answered as asked carries neither.
function fillTurn(form, question, response, history) {
  const followup = Boolean(response.followup);
  form.elements.question.value = question;
  fillSpan(form, "answer", response.abstained ? null : highlight(response.passages[0]));
  form.elements.read_as.value = followup && typeof response.read_as === "string" ? response.read_as : "";
  form.elements.history.value = followup && Array.isArray(history) && history.length ? JSON.stringify(history) : "";
}

function cloneTemplate(id) {
  const template = document.getElementById(id);
  return template ? template.content.firstElementChild.cloneNode(true) : null;
}

// The controls under an answer (or an abstention), filled in for this question and response;
// `history` is what the question was sent with.
export function renderFeedback(question, response, history = []) {
  const node = cloneTemplate(response.abstained ? "feedback-abstained-template" : "feedback-template");
  if (!node) return document.createDocumentFragment();
  for (const form of node.querySelectorAll("form")) fillTurn(form, question, response, history);
  return node;
}

// "This one answered it" for a passage shown besides the answer.
export function renderAnsweredIt(question, response, passage, history = []) {
  const form = cloneTemplate("answered-it-template");
  if (!form) return document.createDocumentFragment();
  fillTurn(form, question, response, history);
  fillSpan(form, "chosen", highlight(passage));
  return form;
}

function historyOf(data) {
  const text = data.get("history");
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function spanOf(data, prefix) {
  const doc = data.get(`${prefix}_doc`);
  if (!doc) return null;
  return { doc_id: doc, start: Number(data.get(`${prefix}_start`)), end: Number(data.get(`${prefix}_end`)) };
}

// The JSON body for POST /api/feedback; the same mapping as web/routers/feedback.py form_payload.
function payloadOf(form, submitter) {
  const data = new FormData(form, submitter);
  return {
    question: data.get("question") || "",
    verdict: data.get("verdict") || "",
    reason: data.get("reason") || null,
    answer: spanOf(data, "answer"),
    chosen: spanOf(data, "chosen"),
    read_as: data.get("read_as") || null,
    history: historyOf(data),
  };
}

function failureMessage(status) {
  if (status === 503) return "Feedback can't be saved right now. Nothing was stored; please try again later.";
  if (status === 429) return "Too many requests in a short time. Please wait a moment and try again.";
  return `Feedback couldn't be saved (error ${status}). Nothing was stored.`;
}

async function send(payload) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), FEEDBACK_TIMEOUT_MS);
  try {
    const response = await fetch("/api/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(payload),
      signal: controller.signal,
    });
    if (response.status !== 201) throw new Error(failureMessage(response.status));
  } catch (error) {
    if (error.name === "AbortError" || error instanceof TypeError) {
      throw new Error("Couldn't reach the server. Nothing was stored; please try again.");
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function status(className, text, role) {
  const line = document.createElement("p");
  line.className = className;
  line.setAttribute("role", role);
  line.textContent = text;
  return line;
}

// Once one piece of feedback on a reply is saved, its controls give way to a thank-you line.
function settle(reply) {
  for (const form of reply.querySelectorAll("[data-feedback-chosen]")) form.remove();
  const section = reply.querySelector("[data-feedback]");
  const done = status("feedback__done", THANKS, "status");
  if (section) section.replaceWith(done);
  else reply.append(done);
  done.tabIndex = -1;
  done.focus({ preventScroll: true });
}

async function onSubmit(event) {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains("feedback__form")) return;
  event.preventDefault();
  const reply = form.closest(".reply");
  const buttons = reply ? reply.querySelectorAll(".feedback__button") : [];
  if (form.dataset.sending === "true") return;
  form.dataset.sending = "true";
  for (const button of buttons) button.setAttribute("aria-disabled", "true");
  const old = reply && reply.querySelector(".feedback__error");
  if (old) old.remove();
  try {
    await send(payloadOf(form, event.submitter));
    if (reply) settle(reply);
  } catch (error) {
    const where = (reply && reply.querySelector("[data-feedback]")) || form;
    where.append(status("feedback__error", error.message, "alert"));
  } finally {
    delete form.dataset.sending;
    for (const button of buttons) button.removeAttribute("aria-disabled");
  }
}

// Send the feedback forms inside `root` (server-rendered or built here) with fetch.
export function installFeedback(root) {
  root.addEventListener("submit", onSubmit);
}
