/** Catches render errors so a bug shows a message and a way out, never a blank page. */
import { Component, type ErrorInfo, type ReactNode } from 'react';

interface Props {
  children: ReactNode;
  area?: string;
}
interface State {
  error: Error | null;
}

export class ErrorBoundary extends Component<Props, State> {
  override state: State = { error: null };

  static getDerivedStateFromError(error: unknown): State {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }

  override componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error('Disk Image Studio:', error, info.componentStack);
  }

  override render() {
    const { error } = this.state;
    if (!error) return this.props.children;
    return (
      <div role="alert" className="crash">
        <h2>{this.props.area ? `The ${this.props.area} stopped working` : 'Something went wrong'}</h2>
        <p>{error.message}</p>
        <p className="muted">
          Your files never left this computer. You can try again, or reload the page to start over.
        </p>
        <div className="row">
          <button type="button" className="btn" onClick={() => this.setState({ error: null })}>
            Try again
          </button>
          <button type="button" className="btn btn-quiet" onClick={() => location.reload()}>
            Reload page
          </button>
        </div>
      </div>
    );
  }
}
