using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Metrics;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Daemon.Supervision;

namespace NodeKeeper.Daemon.Http;

/// <summary>
/// `[daemon] http` (or NK_HTTP): GET /metrics (Prometheus text 0.0.4), /healthz and /readyz on a raw socket, with a
/// minimal HTTP/1.1 parser. Kestrel is too heavy for the AOT daemon, and HttpListener brings a managed HTTP stack
/// (and its own connection management) for three fixed paths; a raw socket keeps every limit in plain sight.
/// One task per connection, a bounded request head, `Connection: close` on every answer, and deadlines: the head within
/// <see cref="HeadDeadline"/>, the whole exchange within <see cref="Deadline"/>. At most <see cref="MaxConnections"/>
/// connections at a time and <see cref="MaxConnectionsPerPeer"/> from one address; a connection that would pass either
/// bound takes the slot of the oldest one still waiting for its head (of its own address when that address is at its
/// bound, else of any), so idle or slow clients, from one address or many, hold slots only until someone else needs
/// them. The kernel holds a connection back until its first bytes are in (<see cref="DeferAccept"/>), so a probe comes
/// with its request, is never evictable, and is answered under such load.
/// </summary>
public sealed class HttpEndpoint(Supervisor supervisor, DaemonContext ctx) : IHostedService, IAsyncDisposable
{
    public const string EnvVar = "NK_HTTP";
    public const int MaxHeadBytes = 8 * 1024;
    public const int MaxConnections = 64;
    public const int MaxConnectionsPerPeer = 16;
    public static readonly TimeSpan HeadDeadline = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(5);
    /// <summary>How long the kernel holds a connection that has sent nothing before the daemon sees it (TCP_DEFER_ACCEPT).</summary>
    public static readonly TimeSpan DeferAccept = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan EvictionLogInterval = TimeSpan.FromMinutes(1);

    private readonly Lock _lock = new();
    private readonly Lock _slotsLock = new();
    private readonly List<Connection> _open = []; // in accept order: the first waiting one of an address is its oldest
    private long _nextEvictionLog;
    private readonly string? _env = Environment.GetEnvironmentVariable(EnvVar) is { Length: > 0 } v ? v.Trim() : null;
    private Listening? _current;
    private bool _stopped;

    /// <summary>The address being served, or null when the endpoint is off.</summary>
    public EndPoint? LocalEndPoint { get { lock (_lock) return _current?.Socket.LocalEndPoint; } }

    /// <summary>A bound listener, its accept loop and what stops both.</summary>
    private sealed class Listening(string address, IPEndPoint endPoint, Socket socket)
    {
        public string Address { get; } = address;
        public IPEndPoint EndPoint { get; } = endPoint;
        public Socket Socket { get; } = socket;
        public CancellationTokenSource Stop { get; } = new();
        /// <summary>Cancelled to stop accepting for a while (`nk update`): connections wait in the backlog meanwhile.</summary>
        public CancellationTokenSource Pause { get; set; } = new();
    }

    /// <summary>An accepted connection: the address it came from, and whether its head is in.</summary>
    private sealed class Connection(Socket socket, IPAddress peer)
    {
        public Socket Socket { get; } = socket;
        public IPAddress Peer { get; } = peer;
        public bool Answering { get; set; } // under _slotsLock
        public long AdmittedAt { get; } = Environment.TickCount64;

        /// <summary>
        /// Still waiting for its head, with nothing unread: bytes that arrived but were not read yet are this daemon's
        /// delay, not the client's (a burst of accepts runs ahead of the reads), so they keep the connection.
        /// Under _slotsLock, where a listed socket is never disposed.
        /// </summary>
        public bool Evictable => !Answering && Socket.Available == 0;
    }

    public Task StartAsync(CancellationToken ct)
    {
        lock (_lock)
        {
            try
            {
                // A config loaded, or a [daemon] table taken over, before this ran has already decided (it falls back to NK_HTTP itself).
                if (ctx.Daemon is not null || _env is null) return Task.CompletedTask;
                if (SwitchTo(_env, EnvVar) is { } warning) ctx.Logger.LogWarning("{Warning}", warning);
            }
            finally
            {
                // A listener handed over by the previous image that the address in effect did not take: let go.
                if (_inherited is { } unused) { unused.Dispose(); _inherited = null; }
            }
        }
        return Task.CompletedTask;
    }

    /// <summary>`nk update`: the listener the previous image handed over, taken by the first bind of the same address.</summary>
    private Socket? _inherited = ctx.Inherited?.HttpFd is { } fd ? Listeners.InheritedSocket.Adopt(fd) : null;

    /// <summary>
    /// `nk update`: stops accepting (new connections wait in the backlog for the next image), lets the requests being
    /// answered finish (within <paramref name="deadline"/>) and closes the idle keep-alive connections, as any server may;
    /// returns a close-on-exec copy of the listening socket's fd, so that the next image serves on without a gap.
    /// </summary>
    public async Task<int?> HandOverAsync(TimeSpan deadline)
    {
        Listening? l;
        lock (_lock) l = _current;
        if (l is null) return null;
        await l.Pause.CancelAsync();
        var until = Environment.TickCount64 + (long)deadline.TotalMilliseconds;
        while (true)
        {
            List<Connection> idle;
            lock (_slotsLock)
            {
                idle = _open.Where(c => c.Evictable).ToList();
                foreach (var c in idle) _open.Remove(c);
                if (_open.Count == 0 || Environment.TickCount64 > until) break;
            }
            foreach (var c in idle) c.Socket.Dispose();
            await Task.Delay(10);
        }
        lock (_lock) return _current == l ? Processes.Native.DupCloseOnExec((int)l.Socket.SafeHandle.DangerousGetHandle()) : null;
    }

    /// <summary>The update was given up: accepting again.</summary>
    public void Resume()
    {
        lock (_lock)
        {
            if (_current is not { } l || !l.Pause.IsCancellationRequested) return;
            l.Pause = new CancellationTokenSource();
            _ = AcceptLoopAsync(l);
        }
    }

    public Task StopAsync(CancellationToken ct)
    {
        lock (_lock)
        {
            _stopped = true;
            Close();
        }
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            _stopped = true;
            Close();
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Applies the [daemon] table of a config being started: its `http` address, or NK_HTTP when it has none, or off.
    /// A null table (a start without a config file) leaves the endpoint as it is. The same address keeps the
    /// running listener; another one closes it and binds the new. Returns a warning when the address cannot be
    /// served (also logged); the apps start regardless.
    /// </summary>
    public string? Configure(DaemonSpec? daemon)
    {
        if (daemon is null) return null;
        string? warning;
        lock (_lock)
        {
            if (_stopped) return null;
            warning = Apply(daemon, "[daemon] http");
        }
        ctx.StateChanged();
        return warning;
    }

    /// <summary>
    /// Brings back the [daemon] table kept in state.json (a takeover) or dump.json (`nk resurrect`, so at boot), unless
    /// one is already in effect: a config loaded since is newer, as with the apps. An address that cannot be served is
    /// a warning (logged and returned), never a failure: the daemon serves its apps regardless.
    /// </summary>
    public string? Restore(DaemonSpec? daemon, string file)
    {
        if (daemon is null) return null;
        string? warning;
        lock (_lock)
        {
            if (_stopped || ctx.Daemon is not null) return null;
            warning = Apply(daemon, $"[daemon] http kept in {file}");
        }
        ctx.StateChanged();
        return warning;
    }

    // Under _lock.
    private string? Apply(DaemonSpec daemon, string source)
    {
        ctx.Daemon = daemon;
        var wanted = daemon.Http ?? _env;
        if (wanted is null)
        {
            if (_current is not null) ctx.Logger.LogInformation("http endpoint {Address} closed: the config has no [daemon] http", _current.Address);
            Close();
            return null;
        }
        var warning = SwitchTo(wanted, daemon.Http is null ? EnvVar : source);
        if (warning is not null) ctx.Logger.LogWarning("{Warning}", warning);
        return warning;
    }

    // Under _lock.
    private string? SwitchTo(string address, string source)
    {
        if (!TryResolve(address, out var endPoint, out var error)) { Close(); return $"http endpoint off: {source} = \"{address}\": {error}"; }
        if (_current is not null && _current.EndPoint.Equals(endPoint)) return null;
        Close();
        if (_inherited is { } inherited)
        {
            _inherited = null;
            if (endPoint.Equals(inherited.LocalEndPoint))
            {
                Serve(new Listening(address, endPoint, inherited), $"{source}, held across nk update");
                return null;
            }
            inherited.Dispose();
        }
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // SO_REUSEADDR alone: a new listener (after a rebind or a daemon restart) may take the port while closed
            // connections linger in TIME_WAIT, never while another listener holds it. Not SocketOptionName.ReuseAddress:
            // on Linux .NET sets SO_REUSEPORT with it, and a second daemon would then share the port silently.
            socket.SetRawSocketOption(1 /*SOL_SOCKET*/, 2 /*SO_REUSEADDR*/, BitConverter.GetBytes(1));
            socket.Bind(endPoint);
            socket.Listen(512); // room for a probe's handshake while a flood of connections is accepted and evicted
            // TCP_DEFER_ACCEPT (as nginx's `listen … deferred`): the kernel hands a connection over once its first bytes are
            // in, or after DeferAccept for a silent one. A probe then comes with its request and can never be taken for
            // an idle connection, however late its client got to send (a loaded machine can delay that by tens of ms,
            // while a flood of reconnecting idle clients goes through the accept loop); and a silent client holds no
            // slot (no fd at all) for its first second.
            socket.SetRawSocketOption(6 /*IPPROTO_TCP*/, 9 /*TCP_DEFER_ACCEPT*/, BitConverter.GetBytes((int)DeferAccept.TotalSeconds));
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            var why = ex.SocketErrorCode == SocketError.AddressAlreadyInUse ? "the port is taken by another process" : ex.Message;
            return $"http endpoint off: cannot listen on {address} ({source}): {why}";
        }
        Serve(new Listening(address, endPoint, socket), source);
        return null;
    }

    // Under _lock.
    private void Serve(Listening listening, string source)
    {
        _current = listening;
        ctx.Logger.LogInformation("http endpoint listening on {Address} ({Source}): /metrics /healthz /readyz", listening.Address, source);
        if (!IPAddress.IsLoopback(listening.EndPoint.Address))
            ctx.Logger.LogWarning("http endpoint {Address} is not a loopback address: whoever reaches it can read app names and metrics", listening.Address);
        _ = AcceptLoopAsync(listening);
    }

    // Under _lock.
    private void Close()
    {
        if (_current is null) return;
        _current.Stop.Cancel();
        _current.Socket.Dispose();
        _current = null;
    }

    /// <summary>"host:port" (IPv4, [IPv6] or a name, resolved now: the first address, IPv4 preferred) to an endpoint.</summary>
    public static bool TryResolve(string address, out IPEndPoint endPoint, out string error)
    {
        endPoint = new IPEndPoint(IPAddress.Loopback, 0);
        if (!HostPort.TryParse(address, out var host, out var port, out var invalid))
        {
            error = invalid;
            return false;
        }
        error = "";
        if (!IPAddress.TryParse(host, out var ip))
        {
            try
            {
                var all = Dns.GetHostAddresses(host);
                ip = all.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? all.FirstOrDefault();
            }
            catch (SocketException ex) { error = $"cannot resolve {host}: {ex.Message}"; return false; }
            if (ip is null) { error = $"{host} has no address"; return false; }
        }
        endPoint = new IPEndPoint(ip, port);
        return true;
    }

    private async Task AcceptLoopAsync(Listening l)
    {
        var ct = l.Stop.Token;
        using var accepting = CancellationTokenSource.CreateLinkedTokenSource(ct, l.Pause.Token);
        while (!accepting.IsCancellationRequested)
        {
            Socket client;
            try { client = await l.Socket.AcceptAsync(accepting.Token); }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException) { return; }
            catch (SocketException ex)
            {
                if (ct.IsCancellationRequested) return;
                ctx.Logger.LogWarning("http endpoint: accept failed: {Error}", ex.Message);
                try { await Task.Delay(100, ct); } catch (OperationCanceledException) { return; }
                continue;
            }
            if (Admit(client) is not { } connection)
            {
                client.Dispose();
                continue;
            }
            _ = Task.Run(() => ServeAsync(connection, ct), CancellationToken.None);
        }
    }

    /// <summary>
    /// Gives a new connection a slot: a free one, or that of the oldest connection still waiting for its head, of
    /// the same address when that address is at <see cref="MaxConnectionsPerPeer"/>, else of the address holding the
    /// most connections. The evicted one is closed now, so the open sockets never pass the bounds. Null (the new one
    /// is refused) only when every connection in the way is being answered or has bytes this daemon has yet to read:
    /// both last milliseconds.
    /// </summary>
    private Connection? Admit(Socket client)
    {
        var peer = client.RemoteEndPoint is IPEndPoint ep ? (ep.Address.IsIPv4MappedToIPv6 ? ep.Address.MapToIPv4() : ep.Address) : IPAddress.None;
        var connection = new Connection(client, peer);
        Connection? victim = null;
        int open;
        lock (_slotsLock)
        {
            var fromPeer = _open.Count(c => c.Peer.Equals(peer));
            if (fromPeer >= MaxConnectionsPerPeer || _open.Count >= MaxConnections)
            {
                victim = fromPeer >= MaxConnectionsPerPeer ? _open.FirstOrDefault(c => c.Peer.Equals(peer) && c.Evictable) : OldestWaiting();
                if (victim is null) return null;
                _open.Remove(victim);
            }
            _open.Add(connection);
            open = _open.Count;
        }
        if (victim is not null)
        {
            victim.Socket.Dispose();
            LogEviction(open, victim.Peer);
        }
        return connection;
    }

    // Under _slotsLock. The oldest connection still waiting for its head: the first in accept order, the one that has had
    // the longest to send its request. With TCP_DEFER_ACCEPT a waiting one has been silent for a second already; a
    // connection that came with its bytes is never evictable, so no probe is taken, whoever else holds the slots.
    private Connection? OldestWaiting() => _open.FirstOrDefault(c => c.Evictable);

    private void Release(Connection connection)
    {
        lock (_slotsLock) _open.Remove(connection);
    }

    /// <summary>At most once a minute: an attack would otherwise write a line per connection.</summary>
    private void LogEviction(int open, IPAddress evicted)
    {
        var now = Environment.TickCount64;
        var next = Interlocked.Read(ref _nextEvictionLog);
        if (now < next || Interlocked.CompareExchange(ref _nextEvictionLog, now + (long)EvictionLogInterval.TotalMilliseconds, next) != next) return;
        ctx.Logger.LogWarning("http endpoint: {Open} connections open: closed one from {Evicted} that had not sent its request, to serve a new one " +
            "(bounds: {Max} in all, {PerPeer} per address; logged at most once a minute)", open, evicted, MaxConnections, MaxConnectionsPerPeer);
    }

    private async Task ServeAsync(Connection connection, CancellationToken stop)
    {
        var client = connection.Socket;
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stop);
            deadline.CancelAfter(HeadDeadline);
            var ct = deadline.Token;
            client.NoDelay = true;
            client.Blocking = false; // the reads under _slotsLock must never wait; async calls are not affected
            var (status, head) = await ReadHeadAsync(connection, ct);
            deadline.CancelAfter(Deadline - HeadDeadline);
            var (code, contentType, body, extra) = status != 0 ? (status, "text/plain; charset=utf-8", HttpWire.Reason(status).ToLowerInvariant() + "\n", "") : Route(head!);
            var isHead = head is { Method: "HEAD" };
            await HttpWire.WriteAsync(client, code, contentType, body, extra, isHead, ct);
            try { client.Shutdown(SocketShutdown.Send); } catch (SocketException) { }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
        catch (Exception ex) { ctx.Logger.LogWarning(ex, "http endpoint: request failed"); }
        finally
        {
            Release(connection); // before the socket is disposed: Admit reads the sockets it lists
            client.Dispose();
        }
    }

    /// <summary>
    /// Reads up to the blank line that ends the head; a status code instead when it is malformed or too long. Each read
    /// waits until the socket is readable (a zero-byte receive leaves the bytes in the kernel), then takes the bytes
    /// and, when they end the head, marks the connection answering, both under _slotsLock: Admit sees a probe's
    /// request either unread (<see cref="Connection.Evictable"/>) or answered, never in between.
    /// </summary>
    private async Task<(int Status, HttpWire.Head? Head)> ReadHeadAsync(Connection connection, CancellationToken ct)
    {
        var client = connection.Socket;
        var buffer = new byte[MaxHeadBytes];
        var length = 0;
        int end;
        while (true)
        {
            await client.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, ct);
            lock (_slotsLock)
            {
                // Non-blocking (see ServeAsync): WouldBlock is a wake-up without data.
                var n = client.Receive(buffer, length, buffer.Length - length, SocketFlags.None, out var error);
                if (error == SocketError.WouldBlock) continue;
                if (error != SocketError.Success) throw new SocketException((int)error);
                if (n == 0) throw new IOException("closed before the end of the request head");
                var from = Math.Max(0, length - 3);
                length += n;
                end = HttpWire.EndOfHead(buffer.AsSpan(0, length), from);
                if (end < 0 && length < buffer.Length) continue;
                connection.Answering = true;
            }
            return end < 0 ? (431, null) : HttpWire.ParseHead(Encoding.Latin1.GetString(buffer, 0, end));
        }
    }

    private (int Code, string ContentType, string Body, string ExtraHeaders) Route(HttpWire.Head head)
    {
        const string Text = "text/plain; charset=utf-8";
        if (head.Path is not ("/metrics" or "/healthz" or "/readyz")) return (404, Text, "not found: try /metrics, /healthz or /readyz\n", "");
        if (head.Method is not ("GET" or "HEAD")) return (405, Text, "method not allowed: GET or HEAD\n", "Allow: GET, HEAD\r\n");
        switch (head.Path)
        {
            case "/healthz":
                return (200, Text, "ok\n", "");
            case "/readyz":
            {
                var r = Readiness.Evaluate(supervisor.Status(supervisor.Apps.ToList()));
                return (r.Ready ? 200 : 503, Text, r.Body, "");
            }
            default:
            {
                var apps = supervisor.Apps;
                var instances = supervisor.Status(apps.ToList());
                var counts = apps.Select(a => new AppCount(a.Name, a.Spec.Instances)).ToList();
                return (200, PrometheusText.ContentType, PrometheusText.Format(instances, counts, DaemonContext.Version), "");
            }
        }
    }
}
