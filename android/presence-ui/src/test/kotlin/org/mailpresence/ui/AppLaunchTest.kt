// The app's start against the real core and JNA: the parts open in turn off
// the caller's thread, and a part that fails is a screen saying which, with
// nothing after it run.
package org.mailpresence.ui

import com.sun.jna.Library
import com.sun.jna.Native
import java.io.File
import java.util.concurrent.Executors
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import org.mailpresence.LogLevel
import org.mailpresence.PresenceClient
import org.mailpresence.setLogSink

class AppLaunchTest {
    private fun session(vault: MemoryVault, storage: String = tempDir("mailpresence-launch")) =
        AccountSession(Lang.JA, vault, ColleaguesState(Lang.JA)) { config ->
            PresenceClient(config, storage, mapPack()).also { it.networkChanged(false) }
        }

    @Test fun `the core, the key store and the saved account open in turn, off the caller's thread`() = runBlocking<Unit> {
        val io = Executors.newSingleThreadExecutor { Thread(it, "launch-io") }
        val steps = mutableListOf<String>()
        val s = session(MemoryVault(offlineForm()))
        val launch = AppLaunch(Lang.JA, io.asCoroutineDispatcher())
        assertEquals(LaunchState.Starting, launch.state.value)
        val state = launch.run(
            loadCore = { steps += "core on ${Thread.currentThread().name}"; setLogSink(null, LogLevel.WARN) },
            openKeyStore = { steps += "key store"; s.form() },
            openAccount = { steps += "account"; s.openSaved() },
        )
        assertEquals(LaunchState.Ready(null), state)
        assertEquals(state, launch.finished())
        assertEquals(listOf("core on launch-io", "key store", "account"), steps)
        assertEquals("tanaka", s.client.value!!.ownPresence().account)
        s.close()
        io.shutdown()
    }

    @Test fun `a core library that cannot be loaded is a screen saying so, and nothing else runs`() = runBlocking<Unit> {
        var later = false
        val state = AppLaunch(Lang.JA).run(
            // JNA's own refusal, as on a phone whose ABI the build did not pack.
            loadCore = { Native.load("mailpresence_core_not_packed", Library::class.java) },
            openKeyStore = { later = true },
            openAccount = { later = true; null },
        )
        assertTrue("$state", state is LaunchState.Failed)
        state as LaunchState.Failed
        assertEquals(LaunchPart.CORE_LIBRARY, state.part)
        assertEquals("MailPresence を起動できませんでした", state.title)
        assertTrue(state.text, state.text.startsWith("アプリの中核部分（ライブラリ）を読み込めませんでした。"))
        assertTrue(state.detail, state.detail.contains("UnsatisfiedLinkError") && state.detail.contains("mailpresence_core_not_packed"))
        assertFalse("nothing runs after the core failed", later)
    }

    @Test fun `a key store that cannot be opened is a screen saying so, and the account is not opened`() = runBlocking<Unit> {
        var opened = false
        val launch = AppLaunch(Lang.EN)
        val state = launch.run(
            loadCore = { setLogSink(null, LogLevel.WARN) },
            // The JVM has no AndroidKeyStore: the KeyStoreException a phone with a broken key store throws.
            openKeyStore = { java.security.KeyStore.getInstance("AndroidKeyStore") },
            openAccount = { opened = true; null },
        )
        state as LaunchState.Failed
        assertEquals(LaunchPart.KEY_STORE, state.part)
        assertEquals("MailPresence could not start", state.title)
        assertTrue(state.text, state.text.startsWith("The phone's key store cannot be opened, so the saved account and password cannot be read."))
        assertTrue(state.detail, state.detail.startsWith("java.security.KeyStoreException"))
        assertFalse(opened)
        assertEquals(state, launch.finished())
    }

    @Test fun `a saved account that cannot be opened starts the app and says why`() = runBlocking<Unit> {
        val notAFolder = File(tempDir("mailpresence-launch"), "a-file").apply { writeText("not a folder") }.path
        val s = session(MemoryVault(offlineForm()), notAFolder)
        val state = AppLaunch(Lang.JA).run(loadCore = { setLogSink(null, LogLevel.WARN) }, openKeyStore = { s.form() }, openAccount = { s.openSaved() })
        assertEquals(LaunchState.Ready("端末の保存領域に書き込めません。"), state)
        assertEquals(null, s.client.value)
        // An error that is not the core's (the device key's store, say) does not stop the app either.
        val other = AppLaunch(Lang.EN).run(
            loadCore = { setLogSink(null, LogLevel.WARN) }, openKeyStore = {},
            openAccount = { throw java.security.KeyStoreException("device key unreadable") },
        )
        assertEquals(LaunchState.Ready("The saved account could not be opened: java.security.KeyStoreException: device key unreadable"), other)
    }
}
