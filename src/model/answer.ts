/**
 * One network's answer as the API states it (PartAnswer in src/schema/wire.ts): its best class, that
 * class's probability and the `topK` most probable classes, most probable first. Shared by the
 * server's predict and read routes and the page's on-device inference, so both rank alike.
 */
export function partAnswer(
  classes: readonly string[],
  probs: ArrayLike<number>,
  topK: number,
): { label: string; confidence: number; top: { label: string; p: number }[] } {
  const order = Array.from({ length: probs.length }, (_, i) => i).sort((a, b) => probs[b] - probs[a]);
  const best = order[0];
  return {
    label: classes[best],
    confidence: probs[best],
    top: order.slice(0, topK).map((i) => ({ label: classes[i], p: probs[i] })),
  };
}
