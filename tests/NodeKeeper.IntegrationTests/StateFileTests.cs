using NodeKeeper.Core.Config;
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
        var keeper = Task.Run(() => Writer(() => { StateFile.WriteLive(path, state); return true; }));
        var update = Task.Run(() => Writer(() => StateFile.WriteLiveThen(path, state, () => File.Exists(path))));
        await Task.WhenAll(keeper, update);

        failures.Should().Be(0);
        wrote.Should().Be(600, "WriteLiveThen runs its action after its own write, with the file in place");
        StateFile.Read(path).State!.DaemonPid.Should().Be(42);
        Directory.GetFiles(_dir).Should().Equal(path);
    }

    private static AppSpec Spec(string name, string port) => new()
    {
        Name = name, Script = "/srv/app.js", Cwd = "/srv", Log = new LogSpec("/o", "/e", 10 << 20, 5, false),
        Env = new Dictionary<string, string> { ["PORT"] = port, ["QUOTE"] = "say \"hi\"\n" }, EnvFile = "/srv/.env",
        EnvFromFile = new Dictionary<string, string> { ["SECRET"] = "s3cret" },
    };

    [Fact]
    public void The_live_state_file_reads_back_as_the_dump_does_and_a_changed_definition_is_written_anew()
    {
        var live = Path.Combine(_dir, "state.json");
        var dump = Path.Combine(_dir, "dump.json");
        var api = Spec("api", "3000");
        SavedState State(AppSpec first) => new(SavedState.CurrentVersion, DateTimeOffset.UnixEpoch, 42,
        [
            new SavedApp(StateFile.Strip(first), "/srv/nodekeeper.toml", true, [new SavedInstance(0, new SavedProcess(100, 5), [new SavedProcess(101, 6)])]),
            new SavedApp(StateFile.Strip(Spec("worker", "3001")), null, false, []),
        ]);

        StateFile.WriteLive(live, State(api));
        StateFile.Write(dump, State(api));
        var fromLive = StateFile.Read(live).State!;
        fromLive.Should().BeEquivalentTo(StateFile.Read(dump).State!);
        fromLive.Apps[0].Spec.Env.Should().Equal(api.Env);
        fromLive.Apps[0].Spec.EnvFromFile.Should().BeEmpty("env_file values stay in their file");
        File.ReadAllText(live).Should().NotContain("s3cret");

        // The same app defined again (a reload): a new definition, whose bytes are not the old one's.
        StateFile.WriteLive(live, State(api with { Env = new Dictionary<string, string> { ["PORT"] = "4000" } }));
        StateFile.Read(live).State!.Apps[0].Spec.Env.Should().Equal(new Dictionary<string, string> { ["PORT"] = "4000" });
        StateFile.Strip(api).Should().BeSameAs(StateFile.Strip(api), "one definition is stripped once");
    }
}
