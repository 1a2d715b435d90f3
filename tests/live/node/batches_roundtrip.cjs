// The Batch API through the official Node SDK (`openai` on npm): create, retrieve, list (paged by
// the SDK's async iterator), cancel, a missing batch.
// Usage: node batches_roundtrip.cjs BASE_URL API_KEY INPUT_JSONL ; prints one JSON line of results.
const fs = require("fs");
const OpenAI = require("openai");

async function main() {
  const [baseURL, apiKey, inputPath] = process.argv.slice(2);
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
  const out = {};
  const input = await client.files.create({ file: fs.createReadStream(inputPath), purpose: "batch" });
  out.input = input;
  const kept = await client.batches.create({
    input_file_id: input.id,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
    metadata: { run: "node-sdk" },
  });
  const cancelled = await client.batches.create({
    input_file_id: input.id,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
  });
  out.created = kept;
  out.cancel = await client.batches.cancel(cancelled.id);
  out.retrieved = await client.batches.retrieve(kept.id);
  const ids = [];
  for await (const b of client.batches.list({ limit: 1 })) ids.push(b.id);
  out.listed = ids;
  let final = await client.batches.retrieve(cancelled.id);
  while (final.status === "cancelling") {
    await new Promise((resolve) => setTimeout(resolve, 200));
    final = await client.batches.retrieve(cancelled.id);
  }
  out.cancelled = final;
  try {
    await client.batches.retrieve("batch_" + "0".repeat(32));
    out.missing = null;
  } catch (err) {
    out.missing = { status: err.status, error: err.error };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
