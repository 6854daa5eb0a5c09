// Resumable footage upload from the browser (issue #18 part 6) over /api/v1/footage/uploads:
// check the file looks like video before sending a byte, hash it (SHA-256, so the server
// checks the assembled file and an interrupted upload of the same file is found and resumed),
// send the parts the server still misses with XMLHttpRequest (fetch has no upload progress),
// then complete and follow the upload until it is stored or refused.
import { api, csrfHeaders, signInAgain, t, ApiError } from "./shell.js";

export const VIDEO_EXTENSIONS = ["mp4", "m4v", "mkv", "webm", "avi", "mov", "ts", "mts", "m2ts", "mpg", "mpeg", "flv", "3gp", "h264", "h265", "hevc"];
const HASH_LIMIT_BYTES = 1024 ** 3; // hashing reads the whole file into memory
const POLL_MS = 1000;

export class UploadRefused extends Error {}

// The container signature of the file's first bytes, or null when it is none we know.
export function videoSignature(bytes) {
  const ascii = (from, to) => String.fromCharCode(...bytes.slice(from, to));
  if (ascii(4, 8) === "ftyp") return "mp4";
  if (bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3) return "matroska";
  if (ascii(0, 4) === "RIFF" && ascii(8, 12) === "AVI ") return "avi";
  if (bytes[0] === 0x47 && bytes[188] === 0x47) return "mpeg-ts";
  if (bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 1 && (bytes[3] === 0xba || bytes[3] === 0xb3)) return "mpeg-ps";
  if (ascii(0, 3) === "FLV") return "flv";
  if (bytes[0] === 0 && bytes[1] === 0 && (bytes[2] === 1 || (bytes[2] === 0 && bytes[3] === 1))) return "annex-b";
  if (ascii(4, 8) === "moov" || ascii(4, 8) === "mdat" || ascii(4, 8) === "wide") return "quicktime";
  return null;
}

// Throws UploadRefused with a message naming the problem and what to do.
export async function checkVideo(file) {
  if (!file) throw new UploadRefused(t("jobs.pick_file"));
  if (file.size === 0) throw new UploadRefused(t("jobs.empty_file", { name: file.name }));
  const extension = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
  const head = new Uint8Array(await file.slice(0, 376).arrayBuffer());
  const looksVideo = videoSignature(head) !== null;
  if (!looksVideo || (file.type && !file.type.startsWith("video/") && !VIDEO_EXTENSIONS.includes(extension))) {
    throw new UploadRefused(t("jobs.not_video", { name: file.name, types: "MP4, MKV, AVI, MOV, TS" }));
  }
}

async function sha256Hex(file) {
  if (file.size > HASH_LIMIT_BYTES || !crypto.subtle) return null;
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function sendPart(uploadId, number, blob, onBytes) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", `/api/v1/footage/uploads/${encodeURIComponent(uploadId)}/parts/${number}`);
    for (const [name, value] of Object.entries(csrfHeaders({ "Content-Type": "application/octet-stream" }))) {
      xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (e) => onBytes(e.loaded);
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body?.detail ? String(body.detail) : `HTTP ${xhr.status}`));
    };
    xhr.onerror = () => reject(new ApiError(0, t("jobs.network_lost")));
    xhr.send(blob);
  });
}

async function sendPartSignedIn(uploadId, number, blob, onBytes) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await sendPart(uploadId, number, blob, onBytes);
    } catch (e) {
      if (e.status === 401 && attempt < 2) await signInAgain();
      else throw e;
    }
  }
}

// Upload `file` for the offline source `fields.camera_label`; `onProgress({phase, sent, total,
// upload})` reports hashing, sending (bytes), processing; resolves to the finished upload
// (state stored or failed). Parts already on the server are not sent again.
export async function uploadFootage(file, fields, onProgress = () => {}) {
  await checkVideo(file);
  onProgress({ phase: "hashing", sent: 0, total: file.size });
  const sha256 = await sha256Hex(file);
  let upload = null;
  if (sha256) {
    const earlier = await api("footage/uploads", { query: { sha256 } });
    upload = earlier.find((u) => u.state === "receiving" && u.size === file.size && u.camera_label === fields.camera_label.trim()) ?? null;
  }
  if (!upload) {
    upload = await api("footage/uploads", { method: "POST", body: { filename: file.name, size: file.size, sha256, ...fields } });
  }
  const missing = [...upload.missing_parts];
  let done = file.size - missing.reduce((sum, n) => sum + partLength(upload, n, file.size), 0);
  onProgress({ phase: "sending", sent: done, total: file.size, upload });
  for (const number of missing) {
    const start = number * upload.part_bytes;
    const blob = file.slice(start, Math.min(file.size, start + upload.part_bytes));
    upload = await sendPartSignedIn(upload.id, number, blob, (loaded) =>
      onProgress({ phase: "sending", sent: done + loaded, total: file.size, upload }));
    done += blob.size;
    onProgress({ phase: "sending", sent: done, total: file.size, upload });
  }
  upload = await api(`footage/uploads/${encodeURIComponent(upload.id)}/complete`, { method: "POST" });
  while (upload.state === "processing") {
    onProgress({ phase: "processing", sent: file.size, total: file.size, upload });
    await new Promise((r) => setTimeout(r, POLL_MS));
    upload = await api(`footage/uploads/${encodeURIComponent(upload.id)}`);
  }
  onProgress({ phase: upload.state, sent: file.size, total: file.size, upload });
  return upload;
}

function partLength(upload, number, size) {
  return Math.min(upload.part_bytes, size - number * upload.part_bytes);
}
