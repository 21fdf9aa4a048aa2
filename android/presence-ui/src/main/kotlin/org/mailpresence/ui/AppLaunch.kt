// The app's start, in the order its parts can fail: the core library loaded
// (JNA loads it on the first call), the key store opened (the encrypted
// preferences of the account, the device key and the sign-in), the saved
// account opened. A part that fails ends the start with a screen saying which
// part, in words, instead of a crash at launch; nothing after it runs (no
// call into a core that did not load). All of it runs on `io`, off the main
// thread. The shell supplies the steps and draws the state.
package org.mailpresence.ui

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.withContext

/** The part of the start that failed. */
enum class LaunchPart { CORE_LIBRARY, KEY_STORE }

sealed interface LaunchState {
    /** Still starting: the screen shows that it is loading. */
    data object Starting : LaunchState

    /** Running. [accountProblem]: why the saved account could not be opened, in words (the Account screen shows it). */
    data class Ready(val accountProblem: String?) : LaunchState

    /** The start stopped at [part]: [title] and [text] for the screen, [detail] (the error itself) for IT. */
    data class Failed(val part: LaunchPart, val title: String, val text: String, val detail: String) : LaunchState
}

class AppLaunch(private val lang: Lang, private val io: CoroutineDispatcher = Dispatchers.IO) {
    private val current = MutableStateFlow<LaunchState>(LaunchState.Starting)

    val state: StateFlow<LaunchState> get() = current

    /** Waits until the start is over, either way (a receiver woken at boot needs the account). */
    suspend fun finished(): LaunchState = current.first { it != LaunchState.Starting }

    /**
     * Runs the start: [loadCore] makes the first call into the core,
     * [openKeyStore] reads what the key store keeps, [openAccount] opens the
     * saved account and says why it could not (null: opened, or none saved).
     */
    suspend fun run(loadCore: () -> Unit, openKeyStore: () -> Unit, openAccount: suspend () -> String?): LaunchState {
        val next = withContext(io) {
            // Any Throwable: a missing or wrong library is an Error (UnsatisfiedLinkError,
            // ExceptionInInitializerError, JNA's "incompatible native library"), not an Exception.
            step(LaunchPart.CORE_LIBRARY, loadCore)
                ?: step(LaunchPart.KEY_STORE, openKeyStore)
                ?: LaunchState.Ready(
                    try {
                        openAccount()
                    } catch (e: CancellationException) {
                        throw e
                    } catch (e: Exception) {
                        // Not one of the core's errors (those come back in words): the
                        // app runs without the account, and the Account screen says why.
                        (if (lang == Lang.JA) "保存したアカウントを開けませんでした: " else "The saved account could not be opened: ") + e
                    },
                )
        }
        current.value = next
        return next
    }

    private fun step(part: LaunchPart, block: () -> Unit): LaunchState.Failed? = try {
        block()
        null
    } catch (e: Throwable) {
        failed(part, e)
    }

    private fun failed(part: LaunchPart, e: Throwable): LaunchState.Failed {
        val title = if (lang == Lang.JA) "MailPresence を起動できませんでした" else "MailPresence could not start"
        val text = when (part) {
            LaunchPart.CORE_LIBRARY -> if (lang == Lang.JA) {
                "アプリの中核部分（ライブラリ）を読み込めませんでした。このビルドはこの端末に対応していない可能性があります。アプリを入れ直すか、IT 部門に連絡してください。"
            } else {
                "The app's core library could not be loaded; this build may not support this phone. Reinstall the app, or contact IT."
            }
            LaunchPart.KEY_STORE -> if (lang == Lang.JA) {
                "端末の鍵ストアを開けないため、保存したアカウントとパスワードを読めません。端末を再起動してからもう一度開いてください。直らないときは、設定アプリでこのアプリのストレージを消去して設定し直すか、IT 部門に連絡してください。"
            } else {
                "The phone's key store cannot be opened, so the saved account and password cannot be read. Restart the phone and open the app again. If that does not help, clear this app's storage in Settings and set it up again, or contact IT."
            }
        }
        return LaunchState.Failed(part, title, text, e.toString())
    }
}
