using System.Text;
using NodeKeeper.Core.Supervision;
using NodeKeeper.Daemon.Processes;
using NodeKeeper.Daemon.Supervision;


namespace NodeKeeper.IntegrationTests;

/// <summary>
/// The hand-over record of `nk update` as a file (no process): what one image writes the next reads back whole, and a
/// record that is not one this build reads is refused with the reason, before anything is adopted from it.
/// </summary>
public sealed class HandoverRecordTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nk-handover-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_record_reads_back_as_it_was_written_with_every_fd_it_hands_on()
    {
        var spec = NodeKeeper.Core.Config.ConfigLoader.Load("[[app]]\nname = \"web\"\nscript = \"/srv/web.js\"\ninstances = 2\nport = 3000\nport_mode = \"shared\"\nenv = { A = \"1\" }\n", "nk.toml", "/x", new NodeKeeper.Core.Config.LoadContext("/x/logs", 2, _ => null)).Config!.Apps[0];
        var state = InstanceState.New with { Status = InstanceStatus.Backoff, Restarts = 3, UnstableRuns = 2, BackoffDelay = TimeSpan.FromSeconds(4), Generation = 9 };
        var process = new HandedProcess(new ProcessId(1234, 5678), [new ProcessId(1240, 5690)],
            new ParkedReader(40, Encoding.UTF8.GetBytes("half a li"), false), null, new ParkedReader(42, [], true), Signalled: false, OomKillsAtLaunch: 0);
        var record = new HandoverRecord
        {
            FromVersion = "0.1.0+abc1234", DaemonPid = 77, LockFd = 10, ControlFd = 11, HttpFd = 12, RequestId = 5,
            Requester = new HandedConnection(13, []),
            Connections = [new HandedConnection(14, Encoding.UTF8.GetBytes("{\"id\":2,\"cmd\":\"sta"))],
            Apps = [new HandedApp(spec, "/x/nk.toml", true, null, 15, [
                new HandedInstance(0, state, [new HandedTimer(TimerKind.Backoff, 9, DateTimeOffset.UnixEpoch.AddDays(20000))], [], "boom\n", process, [new HandedEvent("restart", "max_memory", ["rss 600M"])]),
                new HandedInstance(1, InstanceState.New, [], [], "", null, [])])],
        };
        var path = Path.Combine(_dir, "handover.json");
        HandoverFile.Write(path, record);
        File.GetUnixFileMode(path).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite, "it holds the apps' definitions, env included");

        var (read, error) = HandoverFile.Read(path);
        error.Should().BeNull();
        read!.Fds().Should().BeEquivalentTo([10, 11, 12, 13, 14, 15, 40, 42], "the lock, the sockets, the requester, a connection, a listener and the pipes");
        var instance = read.Apps[0].Instances[0];
        instance.State.Should().Be(state);
        instance.Timers.Should().Equal(record.Apps[0].Instances[0].Timers);
        instance.Process!.Id.Should().Be(new ProcessId(1234, 5678));
        Encoding.UTF8.GetString(instance.Process.Out!.Carried).Should().Be("half a li");
        instance.Process.Err.Should().BeNull("that pipe had ended");
        instance.Process.Ipc!.Flag.Should().BeTrue();
        var queued = instance.Queued.Single().Event().Should().BeOfType<RestartRequested>().Subject;
        queued.Reason.Should().Be("max_memory");
        queued.Evidence.Should().Equal("rss 600M");
        Encoding.UTF8.GetString(read.Connections[0].Unread).Should().Be("{\"id\":2,\"cmd\":\"sta");
        read.Apps[0].Spec.Should().BeEquivalentTo(spec);
    }

    [Theory]
    [InlineData("{\"format\": 2, \"apps\": []}", "has hand-over format 2; this nk reads 1")]
    [InlineData("{\"apps\": []}", "has hand-over format 0")]
    [InlineData("{\"format\": 1, \"apps\": 3}", "cannot be read")]
    [InlineData("not json", "cannot be read")]
    public void A_record_this_build_cannot_read_is_refused_with_the_reason(string text, string reason)
    {
        var path = Path.Combine(_dir, "handover.json");
        File.WriteAllText(path, text);
        var (record, error) = HandoverFile.Read(path);
        record.Should().BeNull();
        error.Should().Contain(reason).And.Contain(path);
    }

    [Fact]
    public void A_link_or_a_missing_record_is_refused()
    {
        var real = Path.Combine(_dir, "elsewhere.json");
        HandoverFile.Write(real, new HandoverRecord());
        var link = Path.Combine(_dir, "handover.json");
        File.CreateSymbolicLink(link, real);
        HandoverFile.Read(link).Error.Should().Contain("is a link or belongs to another user");
        HandoverFile.Read(Path.Combine(_dir, "none.json")).Error.Should().Contain("does not exist");
    }
}
