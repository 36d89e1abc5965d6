using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>
/// An app's reloads: the guard in progress (a canary, or the watch after a cut-over), the definition the last reload
/// replaced (what a rollback goes back to), and the stories of the last reloads. Any thread may read; the supervisor
/// and the guard it runs write.
/// </summary>
public sealed class ReloadTrack
{
    private const int Kept = 10;
    private readonly Lock _lock = new();
    private readonly List<ReloadStory> _stories = [];
    private CancellationTokenSource? _guard;
    private string? _phase;
    private DateTimeOffset? _since, _until;
    private string? _canaryFailure;

    /// <summary>The definition before the last reload that went through (null: never reloaded); what nk rollback restores.</summary>
    public AppSpec? Previous { get { lock (_lock) return field; } set { lock (_lock) field = value; } }

    public IReadOnlyList<ReloadStory> Stories { get { lock (_lock) return [.. _stories]; } }

    /// <summary>
    /// Starts a guard ("canary" or "watching") until <paramref name="until"/>: the token ends when another reload, a
    /// rollback, a stop or a delete of the app interrupts it (<see cref="Interrupt"/>), or when the daemon stops.
    /// </summary>
    public CancellationToken Begin(string phase, DateTimeOffset since, DateTimeOffset until, CancellationToken daemon)
    {
        lock (_lock)
        {
            _guard?.Cancel();
            _guard = CancellationTokenSource.CreateLinkedTokenSource(daemon);
            (_phase, _since, _until, _canaryFailure) = (phase, since, until, null);
            return _guard.Token;
        }
    }

    /// <summary>Ends the guard that <paramref name="token"/> belongs to (a later one is left alone).</summary>
    public void End(CancellationToken token)
    {
        lock (_lock)
        {
            if (_guard is null || _guard.Token != token) return;
            _guard.Dispose();
            _guard = null;
            (_phase, _since, _until, _canaryFailure) = (null, null, null, null);
        }
    }

    /// <summary>Ends the guard in progress, if any (another reload, a rollback, a stop or a delete of the app).</summary>
    public void Interrupt()
    {
        lock (_lock) _guard?.Cancel();
    }

    /// <summary>
    /// The health monitor's word that the app's health url failed while a canary runs: the canary is judged for it
    /// (the old instances are not restarted). False when no canary runs.
    /// </summary>
    public bool FailCanary(string evidence)
    {
        lock (_lock)
        {
            if (_phase != "canary") return false;
            _canaryFailure ??= evidence;
            return true;
        }
    }

    /// <summary>What the health monitor said of the canary, once.</summary>
    public string? TakeCanaryFailure()
    {
        lock (_lock)
        {
            var f = _canaryFailure;
            _canaryFailure = null;
            return f;
        }
    }

    public void Record(ReloadStory story)
    {
        lock (_lock)
        {
            _stories.Add(story);
            if (_stories.Count > Kept) _stories.RemoveAt(0);
        }
    }

    /// <summary>What status shows; null when the app was never reloaded.</summary>
    public ReloadInfo? Info()
    {
        lock (_lock)
        {
            var last = _stories.Count > 0 ? _stories[^1] : null;
            if (_phase is null && last is null) return null;
            return new ReloadInfo(_phase, _since, _until, last?.Outcome, last?.At, last?.Summary);
        }
    }
}
