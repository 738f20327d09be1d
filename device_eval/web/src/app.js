// The page: load the served student, encode a chosen photo on this device, search the index with
// the embedding and the model's compat key, and show the ranked results.
import { decodePixels, embed, fetchJson, loadModel, ShownError } from './encoder.js';
import { float16Embedding } from './wire.js';

const K = 12;
const $ = (id) => document.getElementById(id);

function setStatus(text, state) {
  $('status').textContent = text;
  $('status').className = state === 'error' ? 'error' : '';
  document.body.dataset.state = state;
}

/** The Authorization header of the key typed into the page (none when the field is empty). */
function authHeaders() {
  const key = $('apikey').value.trim();
  return key ? { authorization: `Bearer ${key}` } : {};
}

function explain(err) {
  if (err.code === 'unauthorized') {
    return 'This server needs an API key: enter the one you were given in the key field, then choose the photo again.';
  }
  if (err.code === 'rate_limited') return `The server is busy with your key's requests: ${err.message}`;
  if (err.code === 'space_mismatch') {
    return 'This model was exported for another teacher than the one this server\'s index holds, so its '
      + `embeddings cannot be searched here; export the student for this index. (${err.message})`;
  }
  return err instanceof ShownError ? err.message : `Unexpected error: ${err.message}`;
}

function showResults(results) {
  const list = $('results');
  list.replaceChildren(...results.map((hit) => {
    const li = document.createElement('li');
    const img = document.createElement('img');
    const url = new URL(hit.thumbnail, location.origin).href;
    const headers = authHeaders();
    if (headers.authorization) { // an <img src> cannot send the key: fetch the bytes, show them as a blob
      fetch(url, { headers }).then((r) => (r.ok ? r.blob() : Promise.reject(new Error(r.status))))
        .then((blob) => { img.src = URL.createObjectURL(blob); })
        .catch(() => { img.alt = `${hit.name} (no thumbnail)`; });
    } else {
      img.src = url;
    }
    img.alt = hit.name;
    const caption = document.createElement('div');
    caption.innerHTML = `<b>${hit.rank}.</b> <span class="name"></span><br><span class="score"></span>`;
    caption.querySelector('.name').textContent = hit.name;
    caption.querySelector('.score').textContent = `cosine ${hit.score.toFixed(3)}`;
    li.dataset.name = hit.name;
    li.append(img, caption);
    return li;
  }));
}

async function searchFile(model, file) {
  $('results').replaceChildren();
  setStatus(`Encoding ${file.name} on this device…`, 'busy');
  const pixels = await decodePixels(file);
  $('preview').src = URL.createObjectURL(file);
  $('preview').hidden = false;
  const t0 = performance.now();
  const embedding = Array.from(await embed(model, pixels));
  const encodeMs = performance.now() - t0;
  window.lastEmbedding = embedding;
  window.lastEncodeMs = encodeMs;
  const body = await fetchJson(new URL('/search', location.origin), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeaders() },
    body: JSON.stringify({ embedding: float16Embedding(embedding), k: K, compat_key: model.meta.compat_key }),
  });
  showResults(body.results);
  setStatus(`Encoded on this device in ${encodeMs.toFixed(0)} ms (${pixels.width}×${pixels.height} → `
    + `${model.meta.input_size.join('×')}); ${body.results.length} results.`, 'results');
}

async function main() {
  const base = new URL('./', location.href);
  let model;
  try {
    model = await loadModel(base);
  } catch (err) {
    $('model').textContent = 'no model';
    setStatus(explain(err), 'error');
    return;
  }
  const m = model.meta;
  $('model').textContent = `${m.student} (${m.quantization}, ${m.dim}-d, ${m.input_size.join('×')} ${m.interpolation}), `
    + `compat key ${m.compat_key}`;
  setStatus('Ready: choose a photo.', 'ready');
  $('file').disabled = false;
  $('file').addEventListener('change', async () => {
    const file = $('file').files[0];
    if (!file) return;
    try {
      await searchFile(model, file);
    } catch (err) {
      setStatus(explain(err), 'error');
    }
  });
}

main();
