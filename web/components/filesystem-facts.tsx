/** Facts of a filesystem summary that the result card and the opened image show alike. */

/** The UUID row of a facts list. */
export function UuidFact({ uuid }: { uuid: string }) {
  return (
    <div className="fact-wide">
      <dt>UUID</dt>
      <dd>
        <code>{uuid}</code>
      </dd>
    </div>
  );
}

/** The feature flags (dumpe2fs's "Filesystem features") as chips; nothing when there are none. */
export function FeaturesFact({ features }: { features: readonly string[] }) {
  if (features.length === 0) return null;
  return (
    <div className="fact-wide">
      <dt>Features</dt>
      <dd className="features">
        {features.map((f) => (
          <span key={f} className="chip">
            {f}
          </span>
        ))}
      </dd>
    </div>
  );
}
