/** Where a served model's files are (GET /api/models/:name/files/*, cached for good per version). */
export const modelFileUrl = (name: string, version: string, path: string): string =>
  `/api/models/${encodeURIComponent(name)}/files/${path}?version=${encodeURIComponent(version)}`;
