/** A modal dialog on the native <dialog> element (focus trap, Escape and backdrop for free). */
import { useEffect, useRef, type ReactNode } from 'react';

export function Modal({
  title,
  children,
  onCancel,
  labelId,
}: {
  title: string;
  children: ReactNode;
  onCancel(): void;
  labelId: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => {
      if (d?.open) d.close();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      className="modal"
      aria-labelledby={labelId}
      onCancel={(e) => {
        e.preventDefault();
        onCancel();
      }}
    >
      <h2 id={labelId}>{title}</h2>
      {children}
    </dialog>
  );
}
