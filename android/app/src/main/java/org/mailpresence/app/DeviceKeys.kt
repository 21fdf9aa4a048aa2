// The phone's device key: encrypted shared preferences whose key lives in
// the Android Keystore (the private key never in a plain file, never in a
// backup: allowBackup is off).
package org.mailpresence.app

import android.content.Context
import androidx.security.crypto.EncryptedSharedPreferences
import androidx.security.crypto.MasterKey
import org.mailpresence.DeviceKeyStorage

class DeviceKeys(private val context: Context) : DeviceKeyStorage {
    private val prefs by lazy {
        val key = MasterKey.Builder(context).setKeyScheme(MasterKey.KeyScheme.AES256_GCM).build()
        EncryptedSharedPreferences.create(
            context, "device-key", key,
            EncryptedSharedPreferences.PrefKeyEncryptionScheme.AES256_SIV,
            EncryptedSharedPreferences.PrefValueEncryptionScheme.AES256_GCM,
        )
    }

    override fun load(): String? = prefs.getString("ed25519", null)
    override fun save(key: String) { prefs.edit().putString("ed25519", key).commit() }
}
