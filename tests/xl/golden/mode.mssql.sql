SELECT [CDN].[PicoKonfig].[PcK_LimitKrObs] 
FROM [CDN].[PicoKonfig] 
WHERE [CDN].[PicoKonfig].[PcK_PicoID] = 1
