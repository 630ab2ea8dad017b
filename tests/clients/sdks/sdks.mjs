// The official Node SDKs, unchanged, against a real Drover on every node kind: the `openai`
// SDK's chat completions (whole, streamed, a function tool round trip), embeddings (which it
// asks in base64 by default) and Responses API (whole, streamed, a function tool round trip),
// and the Anthropic SDK's messages (whole, streamed, a tool round trip) and count_tokens.
//
// Run by tests/clients/sdks.py, which starts the nodes and Drover and passes
// DROVER_URL and DROVER_MODELS / DROVER_EMBED_MODELS (JSON: node kind -> model). Prints one
// line per check: `ok`, `FAIL`, or `GAP` for an endpoint Drover does not serve yet (404 on
// /v1/responses or /v1/messages/count_tokens); exits 1 on any FAIL.

import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";

const base = process.env.DROVER_URL;
const models = JSON.parse(process.env.DROVER_MODELS);
const embedModels = JSON.parse(process.env.DROVER_EMBED_MODELS);
const WEATHER = {
  type: "object",
  properties: { city: { type: "string" } },
  required: ["city"],
};
const ASK = 'weather please: use tool weather with {"city": "Paris"}';

const oa = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused", maxRetries: 0 });
const an = new Anthropic({ baseURL: base, apiKey: "unused", maxRetries: 0 });

let failed = 0;
function ok(what) {
  console.log(`ok   ${what}`);
}
function fail(what, why) {
  failed += 1;
  console.log(`FAIL ${what}: ${why}`);
}
function gap(what, why) {
  console.log(`GAP  ${what}: ${why}`);
}

/** Runs one check; a 404 on an endpoint listed in `gaps` is a known gap, not a failure. */
async function check(what, fn, gaps = null) {
  try {
    const why = await fn();
    if (why) fail(what, why);
    else ok(what);
  } catch (e) {
    const status = e?.status;
    const body = JSON.stringify(e?.error ?? e?.message ?? String(e)).slice(0, 500);
    if (gaps && status === 404 && /no such endpoint|not found/i.test(body)) {
      gap(what, `${gaps} answers 404 (not served by Drover yet): ${body}`);
    } else {
      fail(what, `${status ?? ""} ${body}`);
    }
  }
}

async function openaiChat(kind, model) {
  await check(`openai chat.completions.create on ${kind}`, async () => {
    const r = await oa.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }] });
    const text = r.choices[0].message.content ?? "";
    return text.includes("tok0") ? null : `text ${JSON.stringify(text)}`;
  });
  await check(`openai chat.completions.create stream on ${kind}`, async () => {
    const s = await oa.chat.completions.create({
      model, messages: [{ role: "user", content: "hi" }], stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage = null;
    for await (const c of s) {
      text += c.choices[0]?.delta?.content ?? "";
      usage = c.usage ?? usage;
    }
    return text.includes("tok0") && usage ? null : `text ${JSON.stringify(text)}, usage ${JSON.stringify(usage)}`;
  });
  await check(`openai chat tool round trip on ${kind}`, async () => {
    const tools = [{ type: "function", function: { name: "weather", parameters: WEATHER } }];
    const messages = [{ role: "user", content: ASK }];
    const asked = await oa.chat.completions.create({ model, messages, tools });
    const msg = asked.choices[0].message;
    const call = msg.tool_calls?.[0];
    if (!call || JSON.parse(call.function.arguments).city !== "Paris") {
      return `no weather call: ${JSON.stringify(msg)}`;
    }
    const answered = await oa.chat.completions.create({
      model, tools,
      messages: [...messages, msg, { role: "tool", tool_call_id: call.id, content: "sunny" }],
    });
    const text = answered.choices[0].message.content ?? "";
    return text.includes("tool said: sunny") ? null : `answer ${JSON.stringify(text)}`;
  });
}

async function openaiEmbeddings(kind, model) {
  await check(`openai embeddings.create (base64 by default) on ${kind}`, async () => {
    const r = await oa.embeddings.create({ model, input: ["a", "b"] });
    const v = r.data[0]?.embedding;
    const norm = Math.sqrt((v ?? []).reduce((s, x) => s + x * x, 0));
    if (r.data.length !== 2 || !Array.isArray(v) || v.length === 0 || Math.abs(norm - 1) > 1e-3) {
      return `vectors ${JSON.stringify(r.data).slice(0, 300)}`;
    }
    return null;
  });
}

async function openaiResponses(kind, model) {
  const gaps = "POST /v1/responses";
  await check(`openai responses.create on ${kind}`, async () => {
    const r = await oa.responses.create({ model, input: "hi" });
    return r.status === "completed" && r.output_text.includes("tok0") ? null : `response ${JSON.stringify(r).slice(0, 400)}`;
  }, gaps);
  await check(`openai responses.create stream on ${kind}`, async () => {
    const s = await oa.responses.create({ model, input: "hi", stream: true });
    let text = "";
    let done = null;
    for await (const ev of s) {
      if (ev.type === "response.output_text.delta") text += ev.delta;
      if (ev.type === "response.completed") done = ev.response;
    }
    return text.includes("tok0") && done?.usage ? null : `text ${JSON.stringify(text)}, completed ${JSON.stringify(done).slice(0, 300)}`;
  }, gaps);
  await check(`openai responses function tool round trip on ${kind}`, async () => {
    const tools = [{ type: "function", name: "weather", parameters: WEATHER, strict: false }];
    const asked = await oa.responses.create({ model, input: ASK, tools });
    const call = asked.output.find((o) => o.type === "function_call");
    if (!call || JSON.parse(call.arguments).city !== "Paris") {
      return `no weather call: ${JSON.stringify(asked.output).slice(0, 400)}`;
    }
    const answered = await oa.responses.create({
      model, tools,
      input: [{ role: "user", content: ASK }, call,
        { type: "function_call_output", call_id: call.call_id, output: "sunny" }],
    });
    return answered.output_text.includes("tool said: sunny") ? null : `answer ${JSON.stringify(answered.output_text)}`;
  }, gaps);
}

async function anthropicMessages(kind, model) {
  await check(`anthropic messages.create on ${kind}`, async () => {
    const r = await an.messages.create({ model, max_tokens: 64, messages: [{ role: "user", content: "hi" }] });
    const text = r.content.filter((b) => b.type === "text").map((b) => b.text).join("");
    return text.includes("tok0") && r.stop_reason === "end_turn" ? null : `message ${JSON.stringify(r).slice(0, 300)}`;
  });
  await check(`anthropic messages.stream on ${kind}`, async () => {
    const s = an.messages.stream({ model, max_tokens: 64, messages: [{ role: "user", content: "hi" }] });
    let text = "";
    s.on("text", (t) => { text += t; });
    const final = await s.finalMessage();
    return text.includes("tok0") && final.usage.output_tokens > 0 ? null : `text ${JSON.stringify(text)}`;
  });
  await check(`anthropic tool round trip on ${kind}`, async () => {
    const tools = [{ name: "weather", description: "the weather", input_schema: WEATHER }];
    const messages = [{ role: "user", content: ASK }];
    const asked = await an.messages.create({ model, max_tokens: 64, tools, messages });
    const use = asked.content.find((b) => b.type === "tool_use");
    if (asked.stop_reason !== "tool_use" || use?.input?.city !== "Paris") {
      return `no weather call: ${JSON.stringify(asked.content)}`;
    }
    const answered = await an.messages.create({
      model, max_tokens: 64, tools,
      messages: [...messages, { role: "assistant", content: asked.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "rainy" }] }],
    });
    const text = answered.content.filter((b) => b.type === "text").map((b) => b.text).join("");
    return text.includes("tool said: rainy") ? null : `answer ${JSON.stringify(text)}`;
  });
  await check(`anthropic messages.countTokens on ${kind}`, async () => {
    const r = await an.messages.countTokens({ model, messages: [{ role: "user", content: "hi there" }] });
    return r.input_tokens > 0 ? null : `count ${JSON.stringify(r)}`;
  }, "POST /v1/messages/count_tokens");
}

for (const [kind, model] of Object.entries(models)) {
  await openaiChat(kind, model);
  if (embedModels[kind]) await openaiEmbeddings(kind, embedModels[kind]);
  await openaiResponses(kind, model);
  await anthropicMessages(kind, model);
}
process.exit(failed ? 1 : 0);
