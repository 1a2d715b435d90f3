// Drives a filedock server with the official Node SDK (`openai` on npm), exactly as a user would.
// Usage: node files_roundtrip.cjs BASE_URL API_KEY WORK_DIR ; prints one JSON line of results.
const fs = require("fs");
const path = require("path");
const OpenAI = require("openai");
const { toFile } = require("openai");

async function main() {
  const [baseURL, apiKey, workDir] = process.argv.slice(2);
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
  const jsonl = path.join(workDir, "training_data.jsonl");
  fs.writeFileSync(
    jsonl,
    '{"messages": [{"role": "user", "content": "Hello!"}, {"role": "assistant", "content": "Hi there!"}]}\n'
  );
  const out = {};
  // The Node SDK follows the caller's key order, so here `file` is the first part.
  const created = await client.files.create({ file: fs.createReadStream(jsonl), purpose: "fine-tune" });
  out.created = created;
  const named = await client.files.create({
    file: await toFile(Buffer.from("naïve \"quoted\" name"), 'résumé "v2".txt'),
    purpose: "user_data",
    expires_after: { anchor: "created_at", seconds: 3600 },
  });
  out.named = named;
  out.retrieved = await client.files.retrieve(created.id);
  const content = await client.files.content(created.id);
  out.content = await content.text();
  const ids = [];
  for await (const f of client.files.list({ limit: 1 })) ids.push(f.id);
  out.listed = ids;
  out.deleted = await client.files.delete(created.id);
  try {
    await client.files.retrieve(created.id);
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
