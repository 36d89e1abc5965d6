using NodeKeeper.Daemon.State;

namespace NodeKeeper.IntegrationTests;

/// <summary>
/// state.json as a file (no process). The state keeper and `nk update` both write it from their own threads; each
/// write must land whole, and none may fail because the other renamed the temporary file first (CI saw `nk update`
/// fail with "state.json.PID.tmp not found").
/// </summary>
public sealed class StateFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nk-state-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Writes_from_two_threads_at_once_all_land_and_the_file_reads_back()
    {
        var path = Path.Combine(_dir, "state.json");
        var state = new SavedState(SavedState.CurrentVersion, DateTimeOffset.UnixEpoch, 42, []);
        var failures = 0;
        var wrote = 0;
        using var go = new Barrier(2);
        void Writer(Func<bool> write)
        {
            go.SignalAndWait();
            for (var i = 0; i < 300; i++)
            {
                try { if (write()) Interlocked.Increment(ref wrote); }
                catch (IOException) { Interlocked.Increment(ref failures); }
            }
        }
        var keeper = Task.Run(() => Writer(() => { StateFile.Write(path, state); return true; }));
        var update = Task.Run(() => Writer(() => StateFile.WriteThen(path, state, () => File.Exists(path))));
        await Task.WhenAll(keeper, update);

        failures.Should().Be(0);
        wrote.Should().Be(600, "WriteThen runs its action after its own write, with the file in place");
        StateFile.Read(path).State!.DaemonPid.Should().Be(42);
        Directory.GetFiles(_dir).Should().Equal(path);
    }
}
